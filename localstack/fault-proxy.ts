// A fault-injecting HTTP proxy in front of LocalStack's EC2 endpoint. Each request is, at random (seeded,
// so runs are repeatable): answered with EC2's throttling error (RequestLimitExceeded, HTTP 503, the EC2
// Query API's XML error shape), answered with a bare 503 such as a load balancer sends, or forwarded
// untouched. A faulted request never reaches LocalStack, as a throttled call never reaches EC2's backend.
import {
  request as httpRequest,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { uniform } from '../providers/sim/random.js';

export interface FaultProxyOptions {
  /** Upstream EC2 endpoint, e.g. http://127.0.0.1:4566. */
  target: string;
  throttleRate: number;
  unavailableRate: number;
  seed?: number;
  host?: string;
  port?: number;
}

export interface ProxyCounts {
  total: number;
  forwarded: number;
  throttled: number;
  unavailable: number;
  /** Every request by EC2 action (Action= of the Query body). */
  byAction: Map<string, number>;
}

const throttleXml = (id: string) =>
  '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>' +
  `<Message>Request limit exceeded.</Message></Error></Errors><RequestID>${id}</RequestID></Response>`;

export class FaultProxy {
  private server: Server | null = null;
  private readonly random: () => number;
  readonly counts: ProxyCounts = {
    total: 0,
    forwarded: 0,
    throttled: 0,
    unavailable: 0,
    byAction: new Map(),
  };
  url = '';

  constructor(private readonly opts: FaultProxyOptions) {
    this.random = uniform(opts.seed ?? 1);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    this.url = `http://${a.address}:${a.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections?.();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = /(?:^|&)Action=([A-Za-z0-9]+)/.exec(body.toString('utf8'))?.[1] ?? 'unknown';
      this.counts.total++;
      this.counts.byAction.set(action, (this.counts.byAction.get(action) ?? 0) + 1);
      const r = this.random();
      const id = `fault-${this.counts.total}`;
      if (r < this.opts.throttleRate) {
        this.counts.throttled++;
        res.writeHead(503, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(throttleXml(id));
        return;
      }
      if (r < this.opts.throttleRate + this.opts.unavailableRate) {
        this.counts.unavailable++;
        res.writeHead(503, { 'content-type': 'text/html' });
        res.end('<html><body><h1>503 Service Unavailable</h1></body></html>');
        return;
      }
      this.counts.forwarded++;
      const target = new URL(req.url ?? '/', this.opts.target);
      const up = httpRequest(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host } },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: upstream error: ${err.message}`);
      });
      up.end(body);
    });
  }
}
