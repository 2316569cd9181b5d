// The EC2 fidelity layer: an HTTP proxy in front of LocalStack's EC2 endpoint that makes its answers true
// to EC2 where LocalStack's are not, so that two CNIs compared on LocalStack are judged by EC2's behaviour
// and not by the emulator's quirks (reference aws-vpc-cni-real-on-localstack.md section 5). Both CNIs of a
// benchmark run talk to EC2 only through it. Corrections:
//   1. AssignPrivateIpAddresses answers with only the addresses that call assigned (LocalStack lists every
//      address of the ENI, so a caller that trusts the answer, as the AWS VPC CNI does, takes the ENI's
//      primary address and earlier secondaries as new).
//   2. No address is handed out twice, across interfaces or within one, and never a subnet's reserved
//      address (the first four and the last): LocalStack checks a new secondary address only against the
//      addresses the ENI had before the call. The layer picks free addresses itself, from the subnet's
//      real use, and sends an explicit list; with too few free it fails as EC2 does
//      (InsufficientFreeAddressesInSubnet). Calls that pick addresses are serialised, so two concurrent
//      calls cannot pick the same one.
//   3. EC2's latency and throttling: every call waits a latency drawn from the action's lognormal
//      (cloud-api-figures.md section 7, the sim's REALISTIC_LATENCY), and takes a token from the action's
//      bucket (sections 1.2, 1.3); an empty bucket answers RequestLimitExceeded, HTTP 503, before LocalStack
//      sees the call, as EC2 refuses a throttled call before its backend.
// Counts by action (calls, throttled) are served at GET /_fidelity/counts for the benchmark.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { cidrAddresses } from '../config/net.js';
import {
  DEFAULT_BUCKETS,
  REALISTIC_LATENCY,
  type BucketSpec,
  type LatencySpec,
} from '../providers/sim/actions.js';
import { SeededRandom } from '../providers/sim/random.js';
import { TokenBucket } from '../providers/sim/throttle.js';

export interface FidelityOptions {
  /** Upstream EC2 endpoint (LocalStack), e.g. http://127.0.0.1:4566. */
  target: string;
  /** Listen on host:port, or on a Unix socket path (`socketPath`), or both. */
  host?: string;
  port?: number;
  socketPath?: string;
  /** Apply EC2's latencies (default true) — multiplied by latencyScale (default 1). */
  latency?: boolean;
  latencyScale?: number;
  /** Apply EC2's throttling buckets (default true). */
  throttle?: boolean;
  /** Correct AssignPrivateIpAddresses / CreateNetworkInterface address choice and answers (default true). */
  addresses?: boolean;
  seed?: number;
}

export interface ActionCounts {
  calls: number;
  throttled: number;
  /** Latency the layer added, ms, summed. */
  addedMs: number;
}

/** Buckets for actions the sim's table does not list (cloud-api-figures.md 1.2 and 1.3). */
export function bucketFor(action: string, params: URLSearchParams): { key: string; spec: BucketSpec } {
  if (action === 'DescribeInstances' || action === 'DescribeNetworkInterfaces') {
    const filtered = [...params.keys()].some(
      (k) => /^(Filter|NetworkInterfaceId|InstanceId)\./.test(k) || k === 'MaxResults' || k === 'NextToken',
    );
    const key = filtered ? action : `${action}:unfiltered`;
    return { key, spec: DEFAULT_BUCKETS[key] };
  }
  if (DEFAULT_BUCKETS[action]) return { key: action, spec: DEFAULT_BUCKETS[action] };
  // 1.3: uncategorized ENI actions 100/5; DeleteTags like CreateTags 100/10
  if (action === 'ModifyNetworkInterfaceAttribute' || action === 'AssignIpv6Addresses')
    return { key: action, spec: { capacity: 100, refillPerSec: 5 } };
  if (action === 'DeleteTags') return { key: action, spec: { capacity: 100, refillPerSec: 10 } };
  // 1.2: non-mutating 100/20; every other mutating action 50/5
  if (/^(Describe|List|Search|Get)/.test(action))
    return { key: action, spec: { capacity: 100, refillPerSec: 20 } };
  return { key: action, spec: { capacity: 50, refillPerSec: 5 } };
}

/** Latency model of an action: the sim's, or the nearest documented one (unlisted: none). */
export function latencyFor(action: string): LatencySpec | undefined {
  const known = (REALISTIC_LATENCY as Record<string, LatencySpec>)[action];
  if (known) return known;
  // section 2: ModifyNetworkInterface(Attribute) mean 0.34 s (DataDog #10143), modelled like CreateTags
  if (action === 'ModifyNetworkInterfaceAttribute' || action === 'DeleteTags')
    return REALISTIC_LATENCY.CreateTags;
  if (action.startsWith('Describe')) return REALISTIC_LATENCY.DescribeSubnets;
  return undefined;
}

export function sampleMs(spec: LatencySpec, r: SeededRandom): number {
  const v = spec.medianMs * Math.exp(spec.sigma * r.normal());
  return Math.min(spec.maxMs ?? Infinity, Math.max(spec.minMs ?? 0, v));
}

const errorXml = (code: string, message: string, id: string) =>
  '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>' +
  `<Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${id}</RequestID></Response>`;

/** The addresses of a subnet EC2 would hand out: all but the first four and the last (AWS reserves them). */
export function usableAddresses(cidr: string): string[] {
  return cidrAddresses(cidr).slice(4, -1);
}

/** Replaces the address set of an AssignPrivateIpAddresses answer with exactly `assigned`. */
export function rewriteAssignAnswer(xml: string, assigned: string[]): string {
  const items = assigned.map((a) => `<item><privateIpAddress>${a}</privateIpAddress></item>`).join('');
  const re =
    /<assignedPrivateIpAddressesSet>[\s\S]*?<\/assignedPrivateIpAddressesSet>|<assignedPrivateIpAddressesSet\s*\/>/;
  if (!re.test(xml)) return xml;
  return xml.replace(re, `<assignedPrivateIpAddressesSet>${items}</assignedPrivateIpAddressesSet>`);
}

/** Every `<privateIpAddress>` in an EC2 XML answer (DescribeNetworkInterfaces: each ENI's addresses). */
export function addressesIn(xml: string): string[] {
  return [...xml.matchAll(/<privateIpAddress>([0-9.]+)<\/privateIpAddress>/g)].map((m) => m[1]);
}

export class Ec2Fidelity {
  private servers: Server[] = [];
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly rand: SeededRandom;
  private lock: Promise<unknown> = Promise.resolve();
  private requestNo = 0;
  readonly counts = new Map<string, ActionCounts>();
  url = '';

  constructor(private readonly opts: FidelityOptions) {
    this.rand = new SeededRandom(opts.seed ?? 1);
  }

  async start(): Promise<string> {
    const listen = async (arg: { port: number; host: string } | { path: string }) => {
      const s = createServer((req, res) => {
        this.handle(req, res).catch((err: Error) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/xml' });
          res.end(errorXml('InternalError', `fidelity layer: ${err.message}`, 'fidelity'));
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        if ('path' in arg) s.listen(arg.path, () => resolve());
        else s.listen(arg.port, arg.host, () => resolve());
      });
      this.servers.push(s);
      return s;
    };
    if (this.opts.socketPath) await listen({ path: this.opts.socketPath });
    if (this.opts.port !== undefined || !this.opts.socketPath) {
      const s = await listen({ port: this.opts.port ?? 0, host: this.opts.host ?? '127.0.0.1' });
      const a = s.address() as AddressInfo;
      this.url = `http://${a.address}:${a.port}`;
    }
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.servers) {
      s.closeAllConnections?.();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    this.servers = [];
  }

  countsJson(): Record<string, ActionCounts> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  private count(action: string): ActionCounts {
    let c = this.counts.get(action);
    if (!c) this.counts.set(action, (c = { calls: 0, throttled: 0, addedMs: 0 }));
    return c;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    const url = new URL(req.url ?? '/', 'http://fidelity');
    if (req.method === 'GET' && url.pathname === '/_fidelity/counts') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.countsJson()));
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/_localstack')) {
      const up = await this.forward(req, Buffer.alloc(0));
      res.writeHead(up.status, up.headers);
      res.end(up.body);
      return;
    }
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? 'unknown';
    const id = `fidelity-${++this.requestNo}`;
    const c = this.count(action);
    c.calls++;
    if (this.opts.throttle !== false) {
      const { key, spec } = bucketFor(action, params);
      let b = this.buckets.get(key);
      if (!b) this.buckets.set(key, (b = new TokenBucket(spec, Date.now())));
      if (!b.take(Date.now())) {
        c.throttled++;
        res.writeHead(503, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(errorXml('RequestLimitExceeded', 'Request limit exceeded.', id));
        return;
      }
    }
    const lat = this.opts.latency !== false ? latencyFor(action) : undefined;
    if (lat) {
      const ms = sampleMs(lat, this.rand) * (this.opts.latencyScale ?? 1);
      c.addedMs += ms;
      await new Promise((r) => setTimeout(r, ms));
    }
    let rewrite: ((xml: string) => string) | undefined;
    let out = body;
    if (
      this.opts.addresses !== false &&
      (action === 'AssignPrivateIpAddresses' || action === 'CreateNetworkInterface')
    ) {
      // Pick, forward and read back under one lock: no other call can pick the same addresses meanwhile.
      const answer = await this.serialised(async () => {
        const picked = await this.pickAddresses(action, params);
        if ('error' in picked) return picked;
        out = Buffer.from(picked.params.toString());
        const up = await this.forward(req, out);
        return { up, assigned: picked.assigned };
      });
      if ('error' in answer) {
        res.writeHead(400, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(errorXml(answer.error, answer.message, id));
        return;
      }
      if (action === 'AssignPrivateIpAddresses' && answer.up.status === 200 && answer.assigned)
        rewrite = (xml) => rewriteAssignAnswer(xml, answer.assigned!);
      const text = answer.up.body.toString('utf8');
      const bodyOut = rewrite ? Buffer.from(rewrite(text)) : answer.up.body;
      res.writeHead(answer.up.status, { ...answer.up.headers, 'content-length': String(bodyOut.length) });
      res.end(bodyOut);
      return;
    }
    const up = await this.forward(req, out);
    res.writeHead(up.status, up.headers);
    res.end(up.body);
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Upstream Query call (for the layer's own reads), answered as text. */
  private async query(params: Record<string, string>): Promise<string> {
    const body = Buffer.from(new URLSearchParams({ Version: '2016-11-15', ...params }).toString());
    const up = await this.forward(
      {
        method: 'POST',
        url: '/',
        headers: {
          'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
          authorization:
            'AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
        },
      },
      body,
    );
    const text = up.body.toString('utf8');
    if (up.status !== 200)
      throw new Error(`${params.Action}: LocalStack answered ${up.status}: ${text.slice(0, 200)}`);
    return text;
  }

  /**
   * Chooses the addresses a call that asks for a count would get, from the subnet's free usable addresses,
   * and rewrites the call to name them. Calls that already name their addresses are checked instead.
   */
  private async pickAddresses(
    action: string,
    params: URLSearchParams,
  ): Promise<{ params: URLSearchParams; assigned?: string[] } | { error: string; message: string }> {
    const p = new URLSearchParams(params);
    let subnetId: string | null;
    let eniId: string | null = null;
    if (action === 'AssignPrivateIpAddresses') {
      eniId = p.get('NetworkInterfaceId');
      if (!eniId) return { params: p };
      if (p.get('Ipv4PrefixCount') || [...p.keys()].some((k) => k.startsWith('Ipv4Prefix.')))
        return { params: p };
      const eni = await this.query({ Action: 'DescribeNetworkInterfaces', 'NetworkInterfaceId.1': eniId });
      subnetId = /<subnetId>(subnet-[0-9a-z]+)<\/subnetId>/.exec(eni)?.[1] ?? null;
      if (!subnetId) return { params: p }; // let LocalStack give its own NotFound
    } else {
      subnetId = p.get('SubnetId');
      if (!subnetId || p.get('Ipv4PrefixCount')) return { params: p };
    }
    const subnet = await this.query({ Action: 'DescribeSubnets', 'SubnetId.1': subnetId });
    const cidr = /<cidrBlock>([0-9./]+)<\/cidrBlock>/.exec(subnet)?.[1];
    if (!cidr) return { params: p };
    const inUse = new Set(
      addressesIn(
        await this.query({
          Action: 'DescribeNetworkInterfaces',
          'Filter.1.Name': 'subnet-id',
          'Filter.1.Value.1': subnetId,
        }),
      ),
    );
    const named = [...p.entries()]
      .filter(
        ([k]) =>
          /^PrivateIpAddress\.\d+$/.test(k) ||
          /^PrivateIpAddresses\.\d+\.PrivateIpAddress$/.test(k) ||
          k === 'PrivateIpAddress',
      )
      .map(([, v]) => v);
    const usable = new Set(usableAddresses(cidr));
    for (const a of named) {
      if (inUse.has(a))
        return {
          error: 'InvalidIPAddress.InUse',
          message: `The address ${a} is already in use in subnet ${subnetId}.`,
        };
      if (!usable.has(a))
        return {
          error: 'InvalidParameterValue',
          message: `The address ${a} is reserved or outside subnet ${subnetId} (${cidr}).`,
        };
    }
    const count = Number(p.get('SecondaryPrivateIpAddressCount') ?? '0');
    const needPrimary = action === 'CreateNetworkInterface' && named.length === 0;
    const need = count + (needPrimary ? 1 : 0);
    if (need === 0) return { params: p, assigned: action === 'AssignPrivateIpAddresses' ? named : undefined };
    const free = [...usable].filter((a) => !inUse.has(a) && !named.includes(a));
    if (free.length < need)
      return {
        error: 'InsufficientFreeAddressesInSubnet',
        message: `The specified subnet ${subnetId} has only ${free.length} free addresses; ${need} were requested.`,
      };
    // EC2 chooses arbitrarily among free addresses; a seeded shuffle keeps runs repeatable.
    const chosen: string[] = [];
    for (let i = 0; i < need; i++) chosen.push(free.splice(this.rand.int(free.length), 1)[0]);
    p.delete('SecondaryPrivateIpAddressCount');
    if (action === 'AssignPrivateIpAddresses') {
      let n = [...p.keys()].filter((k) => /^PrivateIpAddress\.\d+$/.test(k)).length;
      for (const a of chosen) p.set(`PrivateIpAddress.${++n}`, a);
      return { params: p, assigned: [...named, ...chosen] };
    }
    // CreateNetworkInterface: the primary and the secondaries as one explicit list.
    const primary = p.get('PrivateIpAddress');
    p.delete('PrivateIpAddress');
    const list = primary ? [primary, ...chosen] : chosen;
    list.forEach((a, i) => {
      p.set(`PrivateIpAddresses.${i + 1}.PrivateIpAddress`, a);
      p.set(`PrivateIpAddresses.${i + 1}.Primary`, i === 0 ? 'true' : 'false');
    });
    return { params: p };
  }

  private forward(
    req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const target = new URL(req.url ?? '/', this.opts.target);
    const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    return new Promise((resolve, reject) => {
      const up = httpRequest(target, { method: req.method, headers }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const h = { ...r.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          resolve({ status: r.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
        });
        r.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });
  }
}
