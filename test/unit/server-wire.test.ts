// The daemon's gRPC socket (ipamd/serve/grpc.ts, @grpc/grpc-js) against real clients: @grpc/grpc-js (deadlines,
// unknown methods, status messages that need percent-encoding), raw node:http2 requests for what a
// well-behaved client never sends (other encodings, wrong method or content type, invalid UTF-8, oversized
// messages), and raw sockets for the socket's bounds (connection limit, silent connections).
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import { IpamServer } from '../../ipamd/serve/grpc.js';
import { DEFAULT_GRPC_LIMITS, type GrpcLimits } from '../../config/settings.js';
import { silentLogger } from '../../ipamd/log.js';
import { encode } from '../../proto/codec.js';
import { schemas } from '../../proto/messages.js';
import { grpcStatus, IpamClient, type GrpcError } from '../helpers/ipam-client.js';
import { MemoryIpam } from '../helpers/memory-ipam.js';

let dir: string;
let socket: string;
let ipam: MemoryIpam;
let server: IpamServer;
let client: IpamClient;

const valid = { network: 'tidepool', containerId: 'c0ffee01', ifname: 'eth0', netns: '/var/run/netns/x' };

async function refusal(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

/** One raw HTTP/2 request: the response headers, trailers and body. */
async function raw(
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  const session = http2.connect('http://localhost', { path: socket } as http2.SecureClientSessionOptions);
  session.on('error', () => undefined); // a failed request rejects below
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', ...headers });
      let resHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on('response', (h) => (resHeaders = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ headers: resHeaders, trailers, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      // node:http2 ends a GET's stream with its headers.
      if (headers[':method'] === 'GET') req.end();
      else req.end(body);
    });
  } finally {
    session.close();
  }
}

function frame(message: Uint8Array, compressed = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

async function start(limits: Partial<GrpcLimits> = {}): Promise<void> {
  await server?.shutdown(0);
  client?.close();
  ipam = new MemoryIpam();
  server = new IpamServer({
    ipam,
    logger: silentLogger(),
    podMtu: 9001,
    vpcCidrs: () => [],
    limits: { ...DEFAULT_GRPC_LIMITS, ...limits },
  });
  await server.listen(socket);
  client = new IpamClient(socket);
}

/** The HTTP/2 client preface and an empty SETTINGS frame: what any client sends first. */
const H2_HELLO = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** A raw connection to the socket, and a promise of its close. */
function rawConnection(): Promise<{ sock: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(socket);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.resume(); // a paused socket never emits 'close'
    sock.once('connect', () => resolve({ sock, closed }));
    sock.once('error', reject);
  });
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ]);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perf-wire-'));
  socket = join(dir, 'ipamd.sock');
  await start();
});

afterEach(async () => {
  client.close();
  await server.shutdown(100);
  rmSync(dir, { recursive: true, force: true });
});

describe('gRPC socket', () => {
  test('a grpc-js deadline shorter than the call ends it with DEADLINE_EXCEEDED', async () => {
    let open!: () => void;
    ipam.gate = new Promise((r) => (open = r));
    const err = await refusal(client.allocate(valid, 150));
    expect(err.code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    open();
    // The server stays usable after answering a call it abandoned.
    expect((await client.status()).free).toBeGreaterThanOrEqual(0);
  });

  test('the server itself answers DEADLINE_EXCEEDED when grpc-timeout expires', async () => {
    let open!: () => void;
    ipam.gate = new Promise((r) => (open = r));
    const res = await raw(
      { ':path': '/tidepool.v1.Ipam/Allocate', 'grpc-timeout': '100m' },
      frame(encode(schemas.AllocateRequest, valid)),
    );
    open();
    expect(res.headers[':status']).toBe(200);
    expect(res.headers['grpc-status']).toBe(String(grpcStatus.DEADLINE_EXCEEDED));
  });

  test('an unknown method or service is UNIMPLEMENTED with the path named', async () => {
    const ch = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
    for (const path of ['/tidepool.v1.Ipam/Nope', '/other.v1.Svc/Allocate']) {
      const err = await new Promise<GrpcError>((resolve) =>
        ch.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (e) => resolve(e as GrpcError),
        ),
      );
      expect(err.code).toBe(grpcStatus.UNIMPLEMENTED);
      expect(err.details).toContain(path);
    }
    ch.close();
  });

  test('a status message with non-ASCII and % reaches a grpc-js client intact', async () => {
    ipam.failWith = new Error('disque plein: 100% utilisé, réessayez');
    const err = await refusal(client.allocate(valid));
    expect(err.code).toBe(grpcStatus.INTERNAL);
    expect(err.details).toBe('disque plein: 100% utilisé, réessayez');
  });

  test('a message compressed with an unsupported encoding is refused; gzip, which grpc-js supports, is decoded', async () => {
    const packed = frame(encode(schemas.StatusRequest, {}), 1);
    const br = await raw({ ':path': '/tidepool.v1.Ipam/Status', 'grpc-encoding': 'br' }, packed);
    expect(br.headers['grpc-status'] ?? br.trailers['grpc-status']).not.toBe('0');
    const { gzipSync } = await import('node:zlib');
    const gz = frame(gzipSync(encode(schemas.StatusRequest, {})), 1);
    const gzip = await raw({ ':path': '/tidepool.v1.Ipam/Status', 'grpc-encoding': 'gzip' }, gz);
    expect(gzip.trailers['grpc-status']).toBe('0');
  });

  test('a string field that is not valid UTF-8 is INVALID_ARGUMENT, never stored as U+FFFD', async () => {
    const good = Buffer.from(encode(schemas.AllocateRequest, valid));
    const badUid = Buffer.concat([good, Buffer.from([0x3a, 0x01, 0xff])]); // field 7 (pod_uid) = 0xFF
    const res = await raw({ ':path': '/tidepool.v1.Ipam/Allocate' }, frame(badUid));
    const status = res.headers['grpc-status'] ?? res.trailers['grpc-status'];
    expect(status).toBe(String(grpcStatus.INVALID_ARGUMENT));
    expect(decodeURIComponent(String(res.headers['grpc-message'] ?? res.trailers['grpc-message']))).toContain(
      'UTF-8',
    );
    expect(ipam.allocations.size).toBe(0);
    // Inside a nested message too (GcRequest.valid[].container_id).
    const gc = Buffer.concat([
      Buffer.from(encode(schemas.GcRequest, { network: 'tidepool', valid: [] })),
      Buffer.from([0x12, 0x03, 0x0a, 0x01, 0xc3]), // valid { container_id: 0xC3 }: a cut 2-byte sequence
    ]);
    const gcRes = await raw({ ':path': '/tidepool.v1.Ipam/Gc' }, frame(gc));
    expect(gcRes.headers['grpc-status'] ?? gcRes.trailers['grpc-status']).toBe(
      String(grpcStatus.INVALID_ARGUMENT),
    );
  });

  test('a request over the message limit is RESOURCE_EXHAUSTED and the socket goes on serving', async () => {
    await start({ maxMessageBytes: 4096 });
    const err = await refusal(client.allocate({ ...valid, podName: 'p'.repeat(10_000) }));
    expect(err.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect((await client.allocate(valid)).address).toMatch(/^10\./);
  });

  test('at the connection limit a new connection replaces a silent one; with every connection live it is refused', async () => {
    await start({ maxConnections: 3 });
    const silent = await Promise.all([rawConnection(), rawConnection(), rawConnection()]);
    // A client that speaks takes the place of the oldest silent connection.
    expect((await within(client.status(), 5000, 'a call at the limit')).ready).toBe(true);
    await within(silent[0].closed, 2000, 'the oldest silent connection closed');
    expect(server.evictedConnections).toBe(1);
    for (const c of silent) c.sock.destroy();
    await Promise.all(silent.map((c) => c.closed));
    for (let i = 0; i < 200 && server.openConnections > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.openConnections).toBe(1); // the client's own
    // Three live connections (each has spoken HTTP/2: the preface and SETTINGS): the fourth is refused at once.
    const live = await Promise.all([rawConnection(), rawConnection()]);
    try {
      for (const l of live) l.sock.write(H2_HELLO);
      for (let i = 0; i < 200 && server.openConnections < 3; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100)); // the server has read their bytes
      expect(server.openConnections).toBe(3);
      const extra = await rawConnection();
      await within(extra.closed, 2000, 'the connection over the limit closed');
      expect(server.refusedConnections).toBeGreaterThanOrEqual(1);
      expect((await client.status()).ready).toBe(true); // the live ones keep being served
    } finally {
      for (const l of live) l.sock.destroy();
    }
  });

  test('a connection that never speaks is closed after the idle timeout', async () => {
    await start({ idleTimeoutMs: 200 });
    const silent = await rawConnection();
    await within(silent.closed, 3000, 'the silent connection closed');
    for (let i = 0; i < 100 && server.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.openConnections).toBe(0);
  });

  test('a successful answer is headers, one framed message, then grpc-status 0 in trailers', async () => {
    const res = await raw(
      { ':path': '/grpc.health.v1.Health/Check' },
      frame(encode(schemas.HealthCheckRequest, { service: '' })),
    );
    expect(res.headers[':status']).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/grpc/);
    expect(res.headers['grpc-status']).toBeUndefined();
    expect(res.trailers['grpc-status']).toBe('0');
    expect([...res.body]).toEqual([0, 0, 0, 0, 2, 0x08, 1]); // status: SERVING
  });

  test('not application/grpc is 415, a truncated frame is refused', async () => {
    const json = await raw(
      { ':path': '/tidepool.v1.Ipam/Status', 'content-type': 'application/json' },
      Buffer.from('{}'),
    );
    expect(json.headers[':status']).toBe(415);
    const short = await raw({ ':path': '/tidepool.v1.Ipam/Status' }, Buffer.from([0, 0, 0, 0, 9, 1]));
    expect(short.headers['grpc-status'] ?? short.trailers['grpc-status']).not.toBe('0');
  });
});
