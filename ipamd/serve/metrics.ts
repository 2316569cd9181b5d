// Prometheus metrics (prom-client, a registry of our own). Pool gauges are read from Ipam.status() at
// scrape time; everything else is fed by IpamObserver hooks the core calls and by the gRPC server's onCall.
// Beyond the incumbent's set (reference aws-vpc-cni.md section 1.5 and weakness 13): the allocate latency
// histogram, time spent waiting for the pool, pool-empty seconds and cloud call latency and throttles.
import type PromClient from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudCallOutcome, Ipam, IpamObserver } from '../core/types.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const CLOUD_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Client = typeof PromClient;

export class Metrics implements IpamObserver {
  readonly registry: PromClient.Registry;
  private ipam: Ipam | null = null;
  private readonly allocateSeconds: PromClient.Histogram;
  private readonly waitSeconds: PromClient.Histogram;
  private readonly allocateFailures: PromClient.Counter;
  private readonly releases: PromClient.Counter;
  private readonly poolEmptySeconds: PromClient.Counter;
  private readonly cloudSeconds: PromClient.Histogram;
  private readonly cloudErrors: PromClient.Counter;
  private readonly cloudThrottles: PromClient.Counter;
  private readonly grpcSeconds: PromClient.Histogram;

  /**
   * prom-client is loaded here, by a dynamic import, and not at the top of the module: the daemon serves
   * first and loads its metrics after (start-up time after a crash is time without pod networking).
   */
  static async create(opts: { processMetrics?: boolean } = {}): Promise<Metrics> {
    const mod = (await import('prom-client')) as Client & { default?: Client };
    return new Metrics(mod.default ?? mod, opts);
  }

  private constructor(client: Client, opts: { processMetrics?: boolean }) {
    this.registry = new client.Registry();
    const registers = [this.registry];
    if (opts.processMetrics ?? true)
      client.collectDefaultMetrics({ register: this.registry, prefix: 'tidepool_' });
    const status = () => this.ipam?.status();
    new client.Gauge({
      name: 'tidepool_pool_addresses',
      help: 'Addresses in the pool by state (cooling addresses are not available)',
      labelNames: ['state'],
      registers,
      collect() {
        const s = status();
        if (!s) return;
        this.set({ state: 'free' }, s.free);
        this.set({ state: 'assigned' }, s.assigned);
        this.set({ state: 'cooling' }, s.cooling);
      },
    });
    const gauge = (name: string, help: string, pick: (s: NonNullable<ReturnType<typeof status>>) => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          const s = status();
          if (s) this.set(pick(s));
        },
      });
    gauge(
      'tidepool_pool_total_addresses',
      'Addresses held by the node for pods (free + assigned + cooling)',
      (s) => s.total,
    );
    gauge(
      'tidepool_pool_capacity_addresses',
      'Addresses this node can hold for pods at most',
      (s) => s.capacity,
    );
    gauge('tidepool_pool_interfaces', 'Network interfaces attached to the node', (s) => s.interfaces);
    gauge('tidepool_pool_parked_requests', 'Allocate calls waiting for the pool now', (s) => s.parked);
    gauge('tidepool_ready', '1 when the daemon can hand out an address now or after a cloud call', (s) =>
      s.ready ? 1 : 0,
    );

    // What the daemon sees of the account and its subnets, read at scrape time like the pool gauges; a
    // series that is not in the answer (an unpaced class's rate) is dropped at that scrape.
    const pacing = () => this.ipam?.cloudState?.().pacing ?? [];
    const subnets = () => this.ipam?.cloudState?.().subnets ?? [];
    const perLabel = (name: string, help: string, label: string, rows: () => [string, number][]) =>
      new client.Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, n] of rows()) this.set({ [label]: value }, n);
        },
      });
    perLabel(
      'tidepool_cloud_paced',
      '1 while an API class is paced (the cloud throttled it and its rate has not recovered)',
      'class',
      () => pacing().map((p) => [p.apiClass, p.paced ? 1 : 0]),
    );
    perLabel(
      'tidepool_cloud_pacing_rate_calls_per_second',
      'The send rate of a paced API class, calls/s (no series while the class is unpaced)',
      'class',
      () => pacing().flatMap((p) => (p.ratePerSec === null ? [] : [[p.apiClass, p.ratePerSec]])),
    );
    new client.Counter({
      name: 'tidepool_cloud_pacing_decreases_total',
      help: "Multiplicative decreases of an API class's send rate after throttling",
      labelNames: ['class'],
      registers,
      collect() {
        this.reset();
        for (const p of pacing()) this.inc({ class: p.apiClass }, p.decreases);
      },
    });
    perLabel(
      'tidepool_subnet_free_addresses',
      "A subnet's free addresses at the cloud's last answer",
      'subnet',
      () => subnets().map((s) => [s.id, s.free]),
    );
    perLabel(
      'tidepool_subnet_scarce',
      '1 while subnet scarcity mode is on for a subnet (TIDEPOOL_SUBNET_SCARCITY_PERCENT)',
      'subnet',
      () => subnets().map((s) => [s.id, s.scarce ? 1 : 0]),
    );

    this.allocateSeconds = new client.Histogram({
      name: 'tidepool_allocate_duration_seconds',
      help: 'Time to serve an Allocate, waiting for the pool included',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.waitSeconds = new client.Histogram({
      name: 'tidepool_allocate_wait_seconds',
      help: 'Time an Allocate spent parked waiting for the pool (0 on a warm pool)',
      buckets: [0, ...LATENCY_BUCKETS],
      registers,
    });
    this.allocateFailures = new client.Counter({
      name: 'tidepool_allocate_failures_total',
      help: 'Allocate calls the core refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.releases = new client.Counter({
      name: 'tidepool_releases_total',
      help: 'Addresses released',
      registers,
    });
    this.poolEmptySeconds = new client.Counter({
      name: 'tidepool_pool_empty_seconds_total',
      help: 'Seconds the pool was empty while Allocate calls were waiting',
      registers,
    });
    this.cloudSeconds = new client.Histogram({
      name: 'tidepool_cloud_call_duration_seconds',
      help: 'Cloud API call latency by action and outcome',
      labelNames: ['action', 'outcome'],
      buckets: CLOUD_BUCKETS,
      registers,
    });
    this.cloudErrors = new client.Counter({
      name: 'tidepool_cloud_call_errors_total',
      help: 'Cloud API calls that failed (throttling excluded), by action',
      labelNames: ['action'],
      registers,
    });
    this.cloudThrottles = new client.Counter({
      name: 'tidepool_cloud_call_throttles_total',
      help: 'Cloud API calls refused by throttling (RequestLimitExceeded), by action',
      labelNames: ['action'],
      registers,
    });
    this.grpcSeconds = new client.Histogram({
      name: 'tidepool_grpc_request_duration_seconds',
      help: 'gRPC calls served, by method and status code',
      labelNames: ['method', 'code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** The core whose status() the pool gauges read (it exists only after the observer was handed to it). */
  bind(ipam: Ipam): void {
    this.ipam = ipam;
  }

  cloudCall(action: string, ms: number, outcome: CloudCallOutcome, _error?: string): void {
    this.cloudSeconds.observe({ action, outcome }, ms / 1000);
    if (outcome === 'error') this.cloudErrors.inc({ action });
    else if (outcome === 'throttled') this.cloudThrottles.inc({ action });
  }
  allocated(waitedMs: number, totalMs: number): void {
    this.allocateSeconds.observe(totalMs / 1000);
    this.waitSeconds.observe(waitedMs / 1000);
  }
  allocateFailed(reason: string): void {
    this.allocateFailures.inc({ reason });
  }
  released(): void {
    this.releases.inc();
  }
  poolChanged(): void {
    // Gauges are read from status() at scrape time.
  }
  poolEmpty(ms: number): void {
    this.poolEmptySeconds.inc(ms / 1000);
  }
  private readonly grpcChildren = new Map<string, PromClient.Histogram.Internal<string>>();
  grpcCall(method: string, code: number, ms: number): void {
    // One labelled child per (method, code), kept: the hot path skips prom-client's label hashing.
    const k = `${method} ${code}`;
    let child = this.grpcChildren.get(k);
    if (!child) this.grpcChildren.set(k, (child = this.grpcSeconds.labels(method, String(code))));
    child.observe(ms / 1000);
  }

  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /metrics\n');
      return;
    }
    this.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  };
}

/**
 * The observer the core gets at construction, before the metrics exist: it queues what happens until
 * attach() and replays it, so the calls served while prom-client loads are counted too.
 */
export class DeferredObserver implements IpamObserver {
  private target: Metrics | null = null;
  private queue: ((m: Metrics) => void)[] = [];

  attach(m: Metrics): void {
    this.target = m;
    for (const f of this.queue) f(m);
    this.queue = [];
  }
  private on(f: (m: Metrics) => void): void {
    if (this.target) f(this.target);
    else if (this.queue.length < 100_000) this.queue.push(f);
  }
  cloudCall(action: string, ms: number, outcome: CloudCallOutcome, error?: string): void {
    this.on((m) => m.cloudCall(action, ms, outcome, error));
  }
  allocated(waitedMs: number, totalMs: number): void {
    this.on((m) => m.allocated(waitedMs, totalMs));
  }
  allocateFailed(reason: string): void {
    this.on((m) => m.allocateFailed(reason));
  }
  released(): void {
    this.on((m) => m.released());
  }
  poolChanged(): void {}
  poolEmpty(ms: number): void {
    this.on((m) => m.poolEmpty(ms));
  }
  grpcCall(method: string, code: number, ms: number): void {
    this.on((m) => m.grpcCall(method, code, ms));
  }
}

/** Fans one observer call out to several (metrics and logs). */
export function observers(...list: IpamObserver[]): IpamObserver {
  return {
    cloudCall: (...a) => list.forEach((o) => o.cloudCall(...a)),
    allocated: (...a) => list.forEach((o) => o.allocated(...a)),
    allocateFailed: (...a) => list.forEach((o) => o.allocateFailed(...a)),
    released: () => list.forEach((o) => o.released()),
    poolChanged: () => list.forEach((o) => o.poolChanged()),
    poolEmpty: (...a) => list.forEach((o) => o.poolEmpty(...a)),
  };
}
