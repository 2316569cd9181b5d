// An instance metadata service that tells the truth: it serves the IMDSv2 API for one instance from
// LocalStack's own EC2 view (every attached ENI, its device number, addresses and /28 prefixes), with a
// configurable lag, since real IMDS trails EC2 by seconds (cloud-api-figures.md 3). Amazon's own mock
// (ec2-metadata-mock) serves one fixed interface only and has no ipv4-prefix path (reference 5.3), so
// multi-ENI tests and the lab's LocalStack mode need this one.
//
// Token flow as AWS: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600) returns a
// token; a GET without a valid, unexpired token gets 401 (IMDSv2 required); a PUT carrying
// X-Forwarded-For gets 403 (AWS refuses tokens to proxied requests).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { instanceView, metadataTree, type InstanceView } from './imds-view.js';

export interface ImdsServerOptions {
  ec2: EC2Client;
  /** The instance served. With `instanceFor` instead, each request is answered for the instance that
   *  asks, found by its source address, as the real IMDS does (the lab: one IMDS for every node). */
  instanceId?: string;
  instanceFor?: (callerAddress: string) => Promise<string>;
  region: string;
  /** IMDS trails EC2 by this much: a request sees EC2 as it was lagMs ago. */
  lagMs?: number;
  /** How often EC2 is polled while lagging (and the cache age when not). */
  refreshMs?: number;
  host?: string;
  port?: number;
  /** Serve IMDSv1 (no token) too. Off: IMDSv2 only, as hardened instances are configured. */
  allowV1?: boolean;
}

export class ImdsServer {
  private server: Server | null = null;
  private readonly tokens = new Map<string, number>();
  private history: { at: number; view: InstanceView }[] = [];
  private poller: NodeJS.Timeout | null = null;
  private refreshing: Promise<InstanceView> | null = null;
  private readonly delegates = new Map<string, ImdsServer>();
  lagMs: number;
  /** Requests served, by status code (tests assert on 401s). */
  readonly statusCounts = new Map<number, number>();
  url = '';

  constructor(private readonly opts: ImdsServerOptions) {
    this.lagMs = opts.lagMs ?? 0;
  }

  async start(): Promise<string> {
    if (!this.opts.instanceFor) await this.refresh();
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => this.send(res, 500, `internal error: ${err.message}`));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.url = `http://${addr.address}:${addr.port}`;
    this.poller = setInterval(() => {
      if (this.lagMs > 0) this.refresh().catch(() => {});
    }, this.opts.refreshMs ?? 250);
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    this.server = null;
  }

  /** Reads EC2 now and records the view. */
  async refresh(): Promise<InstanceView> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = null));
    const view = await this.refreshing;
    return view;
  }

  private async read(): Promise<InstanceView> {
    const { ec2 } = this.opts;
    const instanceId = this.opts.instanceId;
    if (!instanceId) throw new Error('no instance to read');
    const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
      .Reservations?.[0]?.Instances?.[0];
    if (!inst) throw new Error(`instance ${instanceId} not found in EC2`);
    const enis =
      (
        await ec2.send(
          new DescribeNetworkInterfacesCommand({
            Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }],
          }),
        )
      ).NetworkInterfaces ?? [];
    const subnetIds = [...new Set(enis.map((e) => e.SubnetId!).filter(Boolean))];
    const subnets = subnetIds.length
      ? ((await ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnetIds }))).Subnets ?? [])
      : [];
    const vpcs = inst.VpcId
      ? ((await ec2.send(new DescribeVpcsCommand({ VpcIds: [inst.VpcId] }))).Vpcs ?? [])
      : [];
    const view = instanceView(inst, enis, subnets, vpcs[0], this.opts.region);
    const now = Date.now();
    this.history.push({ at: now, view });
    // Keep what the lag can still ask for, and always the newest.
    const horizon = now - this.lagMs - 5_000;
    while (this.history.length > 1 && this.history[1].at <= horizon) this.history.shift();
    return view;
  }

  /** The view a request at `now` sees: the newest one at least lagMs old (the oldest kept, if none is). */
  async viewAt(now: number): Promise<InstanceView> {
    if (this.lagMs <= 0) {
      const last = this.history[this.history.length - 1];
      if (!last || now - last.at > (this.opts.refreshMs ?? 250)) return this.refresh();
      return last.view;
    }
    let chosen = this.history[0];
    for (const h of this.history) if (h.at <= now - this.lagMs) chosen = h;
    return chosen.view;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://imds');
    if (url.pathname === '/latest/api/token') {
      if (req.method !== 'PUT') return this.send(res, 405, 'Method Not Allowed');
      if (req.headers['x-forwarded-for']) return this.send(res, 403, 'Forbidden');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return this.send(res, 400, 'Bad Request');
      const token = randomBytes(30).toString('base64url');
      this.tokens.set(token, Date.now() + ttl * 1000);
      res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return this.send(res, 200, token);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'Method Not Allowed');
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token === 'string') {
      const exp = this.tokens.get(token);
      if (exp === undefined || exp < Date.now()) return this.send(res, 401, 'Unauthorized');
    } else if (!this.opts.allowV1) return this.send(res, 401, 'Unauthorized');
    const source = this.opts.instanceFor ? await this.delegateFor(req.socket.remoteAddress ?? '') : this;
    const tree = metadataTree(await source.viewAt(Date.now()));
    const body = tree(url.pathname);
    if (body === null) return this.send(res, 404, 'Not Found');
    return this.send(res, 200, body);
  }

  private async delegateFor(address: string): Promise<ImdsServer> {
    const instanceId = await this.opts.instanceFor!(address.replace(/^::ffff:/, ''));
    let d = this.delegates.get(instanceId);
    if (!d) {
      d = new ImdsServer({ ...this.opts, instanceFor: undefined, instanceId, lagMs: 0 });
      this.delegates.set(instanceId, d);
    }
    return d;
  }

  private send(res: ServerResponse, status: number, body: string): void {
    this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + 1);
    res.writeHead(status, { 'content-type': 'text/plain', server: 'EC2ws' });
    res.end(body);
  }
}
