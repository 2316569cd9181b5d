// Clients of the sim server (providers/sim/server.ts documents the API):
// - SimProvider: the Provider a daemon uses with TIDEPOOL_PROVIDER=sim. It runs the same node logic as
//   InProcessSimProvider (SimNodeProvider) over the server's EC2 endpoints, so a daemon crash between
//   CreateNetworkInterface and AttachNetworkInterface leaves an unattached interface, as in EC2.
// - SimAdminClient: launch/terminate instances, state, faults, call counters (lab, tests, benchmarks).
// - subscribeEvents: the NDJSON event stream (the lab builds veths and fabric routes from it).

import { request } from 'node:http';
import { hostname } from 'node:os';
import { NotFoundError } from '../errors.js';
import type { Ec2Action } from './actions.js';
import type { CreateInterfaceRequest, InterfaceFilter, SimEc2 } from './api.js';
import type { SimInspection } from './cloud.js';
import type { FaultPlan } from './faults.js';
import type { CallRecord, CallStats, InstanceView, InterfaceView, SimEvent, SubnetView } from './model.js';
import { SimNodeProvider } from './node.js';
import { SimHttp, SimRequestError } from './http.js';

export { SimRequestError } from './http.js';

class HttpEc2 implements SimEc2 {
  /** Runs before every call (SimProvider: make sure the instance exists). */
  before: () => Promise<void> = () => Promise.resolve();

  constructor(private readonly http: SimHttp) {}

  private async call<T>(action: Ec2Action, req: object): Promise<T> {
    await this.before();
    return this.http.request<T>('POST', `/ec2/${action}`, req, action);
  }

  describeInstances(req: { instanceIds?: string[] }): Promise<InstanceView[]> {
    return this.call('DescribeInstances', req);
  }
  describeNetworkInterfaces(req: InterfaceFilter): Promise<InterfaceView[]> {
    return this.call('DescribeNetworkInterfaces', req);
  }
  describeSubnets(req: { subnetIds?: string[]; zone?: string }): Promise<SubnetView[]> {
    return this.call('DescribeSubnets', req);
  }
  createNetworkInterface(req: CreateInterfaceRequest): Promise<InterfaceView> {
    return this.call('CreateNetworkInterface', req);
  }
  attachNetworkInterface(req: { interfaceId: string; instanceId: string; deviceIndex: number }) {
    return this.call<{ attachmentId: string }>('AttachNetworkInterface', req);
  }
  async detachNetworkInterface(req: { interfaceId: string; force?: boolean }): Promise<void> {
    await this.call('DetachNetworkInterface', req);
  }
  async deleteNetworkInterface(req: { interfaceId: string }): Promise<void> {
    await this.call('DeleteNetworkInterface', req);
  }
  assignPrivateIpAddresses(req: { interfaceId: string; count?: number; prefixCount?: number }) {
    return this.call<{ addresses: string[]; prefixes: string[] }>('AssignPrivateIpAddresses', req);
  }
  async unassignPrivateIpAddresses(req: { interfaceId: string; addresses?: string[]; prefixes?: string[] }) {
    await this.call('UnassignPrivateIpAddresses', req);
  }
  async createTags(req: { resourceIds: string[]; tags: Record<string, string> }): Promise<void> {
    await this.call('CreateTags', req);
  }
  async modifyNetworkInterfaceAttribute(req: { interfaceId: string; deleteOnTermination: boolean }) {
    await this.call('ModifyNetworkInterfaceAttribute', req);
  }
}

export interface SimProviderOptions {
  /** Unix socket of the sim server (TIDEPOOL_SIM_ENDPOINT). */
  endpoint: string;
  /** The node's instance id (TIDEPOOL_SIM_INSTANCE_ID); default i-<hostname>, stable across restarts. */
  instanceId?: string;
  /** Launch the instance with this type if it does not exist yet (as a node boots). */
  instanceType?: string;
  zone?: string;
  clusterName?: string;
  deleteRetryMs?: number;
  /** A call with no reply after this long fails with TransientError RequestTimeout. Default 30000. */
  timeoutMs?: number;
}

export class SimProvider extends SimNodeProvider {
  readonly admin: SimAdminClient;
  private readonly http: SimHttp;
  private booted: Promise<void> | undefined;

  constructor(private readonly options: SimProviderOptions) {
    const http = new SimHttp(options.endpoint, { timeoutMs: options.timeoutMs });
    const ec2 = new HttpEc2(http);
    super(ec2, {
      instanceId: options.instanceId || defaultInstanceId(),
      clusterName: options.clusterName,
      deleteRetryMs: options.deleteRetryMs,
    });
    this.http = http;
    this.admin = new SimAdminClient(options.endpoint, http);
    ec2.before = () => this.boot();
  }

  /** Makes sure this node's instance exists, launching it with `instanceType` on first contact. */
  boot(): Promise<void> {
    this.booted ??= this.launchIfMissing().catch((err: unknown) => {
      this.booted = undefined; // try again on the next call (e.g. the sim server was restarting)
      throw err;
    });
    return this.booted;
  }

  private async launchIfMissing(): Promise<void> {
    try {
      await this.admin.describeInstance(this.instanceId);
      return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (!this.options.instanceType) {
      throw new Error(
        `sim: instance ${this.instanceId} does not exist and no instanceType was given to launch it`,
      );
    }
    try {
      await this.admin.launchInstance({
        instanceType: this.options.instanceType,
        instanceId: this.instanceId,
        zone: this.options.zone,
      });
    } catch (err) {
      if (!(err instanceof SimRequestError && err.code === 'InstanceExists')) throw err; // lost a race: fine
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

/** i-<hostname>: the same id after a daemon restart on the same machine. */
export function defaultInstanceId(): string {
  const h =
    hostname()
      .replace(/[^A-Za-z0-9-]/g, '-')
      .slice(0, 38) || 'localhost';
  return `i-${h}`;
}

export class SimAdminClient {
  private readonly http: SimHttp;

  constructor(
    readonly endpoint: string,
    http?: SimHttp,
  ) {
    this.http = http ?? new SimHttp(endpoint);
  }

  health(): Promise<{ ok: boolean }> {
    return this.http.request('GET', '/healthz');
  }

  /**
   * Polls /healthz until the server answers (e.g. right after spawning it); gives up early with the error
   * `giveUp` returns (a server that has exited).
   */
  async waitReady(timeoutMs = 10_000, giveUp: () => Error | null = () => null): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stop = giveUp();
      if (stop) throw stop;
      try {
        await this.health();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  launchInstance(req: {
    instanceType: string;
    instanceId?: string;
    zone?: string;
    subnetId?: string;
    securityGroups?: string[];
  }): Promise<InstanceView> {
    return this.http.request('POST', '/instances', req, 'RunInstances');
  }
  describeInstance(id: string): Promise<InstanceView> {
    return this.http.request('GET', `/instances/${encodeURIComponent(id)}`, undefined, 'DescribeInstances');
  }
  async terminateInstance(id: string): Promise<void> {
    await this.http.request(
      'DELETE',
      `/instances/${encodeURIComponent(id)}`,
      undefined,
      'TerminateInstances',
    );
  }
  state(): Promise<SimInspection> {
    return this.http.request('GET', '/state');
  }
  setFaults(plan: FaultPlan): Promise<FaultPlan> {
    return this.http.request('PUT', '/faults', plan);
  }
  getFaults(): Promise<FaultPlan> {
    return this.http.request('GET', '/faults');
  }
  calls(): Promise<{ stats: Record<string, CallStats>; log: CallRecord[] }> {
    return this.http.request('GET', '/calls');
  }
  async resetCalls(): Promise<void> {
    await this.http.request('DELETE', '/calls');
  }
  close(): void {
    this.http.close();
  }
}

export interface EventSubscription {
  close(): void;
  /** Resolves when the server has accepted the stream (events after this point are delivered). */
  readonly ready: Promise<void>;
}

/** Streams events (after `since`, if given) until close(); onEnd is called if the server goes away. */
export function subscribeEvents(
  endpoint: string,
  opts: { since?: number; onEvent: (e: SimEvent) => void; onEnd?: (err?: Error) => void },
): EventSubscription {
  let buf = '';
  let closed = false;
  let markReady!: () => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject)));
  ready.catch(() => undefined);
  const path = opts.since === undefined ? '/events' : `/events?since=${opts.since}`;
  const req = request({ socketPath: endpoint, path, method: 'GET', agent: false }, (res) => {
    markReady();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const e = JSON.parse(line) as SimEvent | { type: 'ping' };
        if (e.type !== 'ping') opts.onEvent(e as SimEvent);
      }
    });
    res.on('end', () => !closed && opts.onEnd?.());
    res.on('error', (err) => !closed && opts.onEnd?.(err));
  });
  req.on('error', (err) => {
    failReady(err);
    if (!closed) opts.onEnd?.(err);
  });
  req.end();
  return {
    ready,
    close() {
      closed = true;
      req.destroy();
    },
  };
}
