// The daemon's lean gRPC transport (ipamd/grpc-unary.ts) against real clients: @grpc/grpc-js (deadlines,
// unknown methods, status messages that need percent-encoding) and raw node:http2 requests for what a
// well-behaved client never sends (compressed messages, other encodings, wrong method or content type).
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { parseTimeout, percentEncode } from '../../ipamd/grpc-unary.js';
import { IpamServer } from '../../ipamd/server.js';
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

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perf-wire-'));
  socket = join(dir, 'ipamd.sock');
  ipam = new MemoryIpam();
  server = new IpamServer({ ipam, logger: silentLogger(), podMtu: 9001, vpcCidrs: () => [] });
  await server.listen(socket);
  client = new IpamClient(socket);
});

afterEach(async () => {
  client.close();
  await server.shutdown(100);
  rmSync(dir, { recursive: true, force: true });
});

describe('lean gRPC transport', () => {
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
    expect(percentEncode('a%b é')).toBe('a%25b %C3%A9');
  });

  test('a compressed message or an unsupported grpc-encoding is refused clearly', async () => {
    const body = frame(encode(schemas.StatusRequest, {}), 1);
    const compressed = await raw({ ':path': '/tidepool.v1.Ipam/Status' }, body);
    expect(compressed.headers['grpc-status']).toBe(String(grpcStatus.INTERNAL));
    expect(decodeURIComponent(String(compressed.headers['grpc-message']))).toContain('compressed');
    const gzip = await raw({ ':path': '/tidepool.v1.Ipam/Status', 'grpc-encoding': 'gzip' }, body);
    expect(gzip.headers['grpc-status']).toBe(String(grpcStatus.UNIMPLEMENTED));
    expect(decodeURIComponent(String(gzip.headers['grpc-message']))).toContain('gzip');
  });

  test('a successful answer is headers, one framed message, then grpc-status 0 in trailers', async () => {
    const res = await raw(
      { ':path': '/grpc.health.v1.Health/Check' },
      frame(encode(schemas.HealthCheckRequest, { service: '' })),
    );
    expect(res.headers[':status']).toBe(200);
    expect(res.headers['content-type']).toBe('application/grpc');
    expect(res.headers['grpc-status']).toBeUndefined();
    expect(res.trailers['grpc-status']).toBe('0');
    expect([...res.body]).toEqual([0, 0, 0, 0, 2, 0x08, 1]); // status: SERVING
  });

  test('not a POST is 405, not application/grpc is 415, a truncated frame is INTERNAL', async () => {
    const get = await raw({ ':method': 'GET', ':path': '/tidepool.v1.Ipam/Status' }, Buffer.alloc(0));
    expect(get.headers[':status']).toBe(405);
    const json = await raw(
      { ':path': '/tidepool.v1.Ipam/Status', 'content-type': 'application/json' },
      Buffer.from('{}'),
    );
    expect(json.headers[':status']).toBe(415);
    const short = await raw({ ':path': '/tidepool.v1.Ipam/Status' }, Buffer.from([0, 0, 0, 0, 9, 1]));
    expect(short.headers['grpc-status']).toBe(String(grpcStatus.INTERNAL));
  });

  test('grpc-timeout units', () => {
    expect(parseTimeout('5S')).toBe(5000);
    expect(parseTimeout('250m')).toBe(250);
    expect(parseTimeout('2M')).toBe(120_000);
    expect(parseTimeout('1000u')).toBe(1);
    expect(parseTimeout('123456789m')).toBeNull(); // more than 8 digits
    expect(parseTimeout('5x')).toBeNull();
    expect(parseTimeout(undefined)).toBeNull();
  });
});
