// The sim cloud as a process of its own (dist/bin/tidepool-sim), so its state outlives a daemon crash as
// EC2's does. One server = one account/Region/VPC; the daemons of every node of the one-machine lab share it.
//
// HTTP/1.1 + JSON over a Unix socket (default /run/tidepool/sim.sock). Every mutation is written to the
// state file (--state) before its reply. Errors: status + {"error":{"type","code","action","message"}},
// where type is the class of providers/errors.ts (ThrottledError 503 RequestLimitExceeded, TransientError
// 503/500, NotFoundError 404, InUseError 409, UnauthorizedError 403, LimitExceededError / SubnetFullError /
// UnsupportedError / CloudError 400) or "Error" (400, bad request outside EC2, e.g. unknown instance type).
//
// Admin (no latency, no throttling):
//   GET    /healthz                     → {"ok":true}
//   GET    /state                       → SimInspection {region, vpc, subnets[], instances[], interfaces[], eventSeq}
//                                          (as it is now: no visibility lag)
//   GET    /snapshot                    → the raw persisted SimStateJson
//   POST   /instances  {instanceType, instanceId?, zone?, subnetId?, securityGroups?} → 201 InstanceView
//                                          (409 {"error":{"code":"InstanceExists"}} if instanceId exists)
//   GET    /instances/<id>              → InstanceView (404 InvalidInstanceID.NotFound)
//   DELETE /instances/<id>              → 204; its interfaces are deleted (DeleteOnTermination)
//   GET    /faults, PUT /faults {<Action>: {probability?, next?, error?, when?}} → the plan
//   GET    /calls                       → {"stats": {<Action>: {calls, ok, throttled, errors, totalMs}}, "log": CallRecord[]}
//   DELETE /calls                       → 204, resets the call log and counters
//   GET    /events?since=<seq>          → NDJSON, one SimEvent per line, as they happen (events with seq > since
//                                          are replayed first from a ring of the last 10000). Types:
//     {"type":"interface-attached", seq, at, instanceId, interfaceId, mac, deviceNumber, subnetCidr, primaryAddress}
//     {"type":"interface-detached", seq, at, instanceId, interfaceId, mac, deviceNumber}
//     {"type":"addresses-assigned"|"addresses-released", seq, at, instanceId, interfaceId, addresses[], prefixes[]}
//     {"type":"instance-launched", seq, at, instanceId, instanceType, zone, subnetCidr, primaryInterfaceId,
//      primaryAddress, mac}, {"type":"instance-terminated", seq, at, instanceId}
//     A line {"type":"ping"} is sent every 15 s so a dead peer is noticed.
// EC2 (throttled per action, with latency and faults; body = the request object of providers/sim/api.ts):
//   POST /ec2/<Action>   Action ∈ DescribeInstances, DescribeNetworkInterfaces, DescribeSubnets,
//        CreateNetworkInterface, AttachNetworkInterface, DetachNetworkInterface, DeleteNetworkInterface,
//        AssignPrivateIpAddresses, UnassignPrivateIpAddresses, CreateTags → the method's result as JSON

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import {
  CloudError,
  InUseError,
  NotFoundError,
  ThrottledError,
  TransientError,
  UnauthorizedError,
} from '../errors.js';
import { ACTION_METHODS, type SimEc2 } from './api.js';
import { isEc2Action } from './actions.js';
import type { SimCloud } from './cloud.js';
import { validateFaults } from './faults.js';
import type { SimEvent } from './model.js';
import { StateFile } from './statefile.js';
import { describeInstance } from './views.js';

export interface SimServerOptions {
  cloud: SimCloud;
  socketPath: string;
  /** Persist state here after every mutation; omit for a throwaway cloud. */
  statePath?: string;
  eventBuffer?: number;
}

export interface SimServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startSimServer(opts: SimServerOptions): Promise<SimServer> {
  const { cloud } = opts;
  const state = opts.statePath
    ? new StateFile(
        opts.statePath,
        () => cloud.toJSON(),
        () => cloud.version,
      )
    : undefined;
  if (state) await state.flush(); // the state file exists as soon as the server answers
  const ring: SimEvent[] = [];
  const ringSize = opts.eventBuffer ?? 10_000;
  const streams = new Set<ServerResponse>();

  cloud.on((e) => {
    ring.push(e);
    if (ring.length >= 2 * ringSize) ring.splice(0, ring.length - ringSize);
    const line = JSON.stringify(e) + '\n';
    for (const res of streams) res.write(line);
  });
  const ping = setInterval(() => {
    for (const res of streams) res.write('{"type":"ping"}\n');
  }, 15_000);
  ping.unref();

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: unknown,
  ): Promise<[number, unknown]> {
    const parts = url.pathname.split('/').filter(Boolean);
    const m = req.method ?? 'GET';
    const b = (body ?? {}) as Record<string, unknown>;
    if (parts[0] === 'ec2' && parts.length === 2 && m === 'POST') {
      if (!isEc2Action(parts[1])) throw new HttpError(404, 'InvalidAction', `unknown EC2 action ${parts[1]}`);
      const method = ACTION_METHODS[parts[1]];
      const fn = cloud.ec2[method] as (r: unknown) => Promise<unknown>;
      return [200, (await fn.call(cloud.ec2 as SimEc2, body ?? {})) ?? null];
    }
    const key = `${m} /${parts[0] ?? ''}${parts.length > 1 ? '/:id' : ''}`;
    switch (key) {
      case 'GET /healthz':
        return [200, { ok: true }];
      case 'GET /state':
        return [200, cloud.inspect()];
      case 'GET /snapshot':
        return [200, cloud.toJSON()];
      case 'POST /instances': {
        if (typeof b.instanceType !== 'string')
          throw new HttpError(400, 'MissingParameter', 'instanceType is required');
        const id = b.instanceId;
        if (typeof id === 'string' && cloud.topology.instances.has(id)) {
          throw new HttpError(409, 'InstanceExists', `instance ${id} exists already`);
        }
        const inst = cloud.launchInstance(b as unknown as Parameters<SimCloud['launchInstance']>[0]);
        return [201, describeInstance(cloud.topology, inst)];
      }
      case 'GET /instances/:id': {
        const inst = cloud.topology.instances.get(parts[1]);
        if (!inst)
          throw new NotFoundError(
            `no instance ${parts[1]}`,
            'InvalidInstanceID.NotFound',
            'DescribeInstances',
          );
        return [200, describeInstance(cloud.topology, inst)];
      }
      case 'DELETE /instances/:id':
        cloud.terminateInstance(parts[1]);
        return [204, undefined];
      case 'GET /faults':
        return [200, cloud.getFaults()];
      case 'PUT /faults':
        cloud.setFaults(validateFaults(body ?? {}));
        return [200, cloud.getFaults()];
      case 'GET /calls':
        return [200, { stats: cloud.callStats(), log: cloud.callLog() }];
      case 'DELETE /calls':
        cloud.resetCallLog();
        return [204, undefined];
      case 'GET /events':
        openStream(res, Number(url.searchParams.get('since') ?? 'NaN'));
        return [0, undefined];
    }
    throw new HttpError(404, 'NotFound', `no route ${m} ${url.pathname}`);
  }

  function openStream(res: ServerResponse, since: number): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    if (Number.isFinite(since)) for (const e of ring) if (e.seq > since) res.write(JSON.stringify(e) + '\n');
    streams.add(res);
    res.on('close', () => streams.delete(res));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status: number;
    let payload: unknown;
    try {
      const url = new URL(req.url ?? '/', 'http://sim');
      const body = await readJson(req);
      [status, payload] = await route(req, res, url, body);
      if (status === 0) return; // a stream: stays open
    } catch (err) {
      [status, payload] = errorReply(err);
    }
    // The reply waits until every change made so far (this request's included) is on disk.
    if (state) await state.ensure(cloud.version);
    const text = payload === undefined ? '' : JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  await listenUnix(server, opts.socketPath);

  return {
    socketPath: opts.socketPath,
    async close() {
      clearInterval(ping);
      for (const res of streams) res.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (state) await state.flush();
      if (existsSync(opts.socketPath)) unlinkSync(opts.socketPath);
    },
  };
}

function errorReply(err: unknown): [number, unknown] {
  if (err instanceof HttpError) {
    return [err.status, { error: { type: 'Error', code: err.code, action: '', message: err.message } }];
  }
  if (err instanceof CloudError) {
    let status = 400;
    if (err instanceof ThrottledError)
      status = 503; // EC2 answers RequestLimitExceeded with 503 (#405)
    else if (err instanceof TransientError) status = err.code === 'InternalError' ? 500 : 503;
    else if (err instanceof NotFoundError) status = 404;
    else if (err instanceof InUseError) status = 409;
    else if (err instanceof UnauthorizedError) status = 403;
    return [status, { error: { type: err.name, code: err.code, action: err.action, message: err.message } }];
  }
  const message = err instanceof Error ? err.message : String(err);
  return [400, { error: { type: 'Error', code: 'InvalidRequest', action: '', message } }];
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'InvalidJson', 'the request body is not valid JSON');
  }
}

/** Listens on a Unix socket, replacing a stale socket file left by a crashed server. */
async function listenUnix(server: Server, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      import('node:net').then(
        ({ connect }) => {
          const s = connect(path);
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
        },
        () => resolve(false),
      );
    });
    if (alive) throw new Error(`sim: another server is listening on ${path}`);
    unlinkSync(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
}
