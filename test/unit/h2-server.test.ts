// The daemon's own HTTP/2 server (ipamd/h2-server.ts) under the unary gRPC layer, against @grpc/grpc-js and
// node:http2 as clients: flow control both ways, CONTINUATION, limits, resets, garbage, shutdown.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, GrpcError, UnaryGrpcServer, type UnaryHandler } from '../../ipamd/grpc-unary.js';

let dir: string;
let socket: string;
let server: UnaryGrpcServer;
let client: grpc.Client;
let gate: Promise<void> | null;
const calls: { path: string; code: number }[] = [];

const routes = new Map<string, UnaryHandler>([
  ['/t.Test/Echo', async (req) => req],
  [
    '/t.Test/Slow',
    async (req) => {
      await gate;
      return req;
    },
  ],
  [
    '/t.Test/Fail',
    async (req) => {
      throw new GrpcError(Code.NOT_FOUND, 'x'.repeat(Number(req.toString())));
    },
  ],
]);

function call(path: string, body: Buffer, c = client): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tp-h2-'));
  socket = join(dir, 's.sock');
  gate = null;
  calls.length = 0;
  server = new UnaryGrpcServer({
    routes,
    toStatus: (err) =>
      err instanceof GrpcError
        ? { code: err.code, message: err.message }
        : { code: Code.INTERNAL, message: String(err) },
    onCall: (path, code) => calls.push({ path, code }),
  });
  await server.listen(socket);
  client = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 << 20,
  });
});

afterEach(async () => {
  client.close();
  await server.shutdown(200);
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP/2 server for unary gRPC', () => {
  test('a 1 MiB request and its 1 MiB answer cross both flow-control windows intact', async () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const res = await call('/t.Test/Echo', body);
    expect(res.equals(body)).toBe(true);
    // Several on one connection at once, each larger than a default window of 65535 bytes.
    const many = await Promise.all([1, 2, 3, 4].map((n) => call('/t.Test/Echo', Buffer.alloc(200_000, n))));
    many.forEach((r, i) => expect(r.equals(Buffer.alloc(200_000, i + 1))).toBe(true));
  });

  test('a request over 4 MiB is RESOURCE_EXHAUSTED and the connection goes on serving', async () => {
    const err = (await call('/t.Test/Echo', Buffer.alloc((4 << 20) + 1)).catch(
      (e) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain('larger than 4194304 bytes');
    expect((await call('/t.Test/Echo', Buffer.from('still here'))).toString()).toBe('still here');
  });

  test('a status message longer than a frame arrives whole (HEADERS + CONTINUATION)', async () => {
    const err = (await call('/t.Test/Fail', Buffer.from('40000')).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('x'.repeat(40000));
  });

  test('500 concurrent calls on one connection are all answered, each with its own body', async () => {
    const res = await Promise.all(
      Array.from({ length: 500 }, (_, i) => call('/t.Test/Echo', Buffer.from(`call ${i}`))),
    );
    res.forEach((r, i) => expect(r.toString()).toBe(`call ${i}`));
    expect(calls.filter((c) => c.code === Code.OK)).toHaveLength(500);
  });

  test('a call the client cancels is dropped without harm to the next ones', async () => {
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const pending = new Promise<grpc.ServiceError>((resolve) => {
      const c = client.makeUnaryRequest(
        '/t.Test/Slow',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from('slow'),
        (err) => resolve(err!),
      );
      setTimeout(() => c.cancel(), 50);
    });
    expect((await pending).code).toBe(grpc.status.CANCELLED);
    open();
    await new Promise((r) => setTimeout(r, 20));
    expect((await call('/t.Test/Echo', Buffer.from('next'))).toString()).toBe('next');
  });

  test('bytes that are not HTTP/2 close that connection only', async () => {
    const garbage = connect(socket);
    const closed = new Promise<string>((resolve) => {
      let got = '';
      garbage.on('data', (d) => (got += d.toString('latin1')));
      garbage.on('close', () => resolve(got));
    });
    garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const got = await closed;
    expect(got).not.toContain('HTTP/1.1 200');
    expect((await call('/t.Test/Echo', Buffer.from('fine'))).toString()).toBe('fine');
  });

  test('shutdown answers the call in flight, then refuses new connections', async () => {
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const inFlight = call('/t.Test/Slow', Buffer.from('finish me'));
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.shutdown(5000);
    setTimeout(open, 100);
    expect((await inFlight).toString()).toBe('finish me');
    expect(await stopping).toEqual({ forced: false });
    const late = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
    const err = (await call('/t.Test/Echo', Buffer.from('x'), late).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    late.close();
    server = new UnaryGrpcServer({ routes, toStatus: () => ({ code: 13, message: '' }) }); // for afterEach
  });

  test('a client holding more than 64 MiB of unfinished requests is disconnected (ENHANCE_YOUR_CALM)', async () => {
    const session = http2.connect('http://localhost', { path: socket } as http2.SecureClientSessionOptions);
    session.on('error', () => undefined);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
    // 17 streams of 4 MiB each, none ended: each within the per-stream limit, together over the cap.
    for (let i = 0; i < 17; i++) {
      const req = session.request({
        ':method': 'POST',
        ':path': '/t.Test/Echo',
        'content-type': 'application/grpc',
      });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(4 << 20));
    }
    expect(await goaway).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
    // Other connections are served as before.
    expect((await call('/t.Test/Echo', Buffer.from('others fine'))).toString()).toBe('others fine');
  });

  test('node:http2 as a client: padded frames, a GET refused with 405, PING answered', async () => {
    const session = http2.connect('http://localhost', { path: socket } as http2.SecureClientSessionOptions);
    try {
      await new Promise((resolve) => session.once('connect', resolve));
      const rtt = await new Promise<number>((resolve, reject) =>
        session.ping((err, ms) => (err ? reject(err) : resolve(ms))),
      );
      expect(rtt).toBeGreaterThanOrEqual(0);
      const get = session.request({ ':method': 'GET', ':path': '/t.Test/Echo' }, { endStream: true });
      const status = await new Promise((resolve) => get.on('response', (h) => resolve(h[':status'])));
      expect(status).toBe(405);
      get.resume();
      // paddingStrategy max: node:http2 pads every HEADERS and DATA frame it sends.
      const padded = http2.connect('http://localhost', {
        path: socket,
        paddingStrategy: http2.constants.PADDING_STRATEGY_MAX,
      } as http2.SecureClientSessionOptions);
      const req = padded.request({
        ':method': 'POST',
        ':path': '/t.Test/Echo',
        'content-type': 'application/grpc',
      });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      const done = new Promise((r) => req.on('end', r));
      req.end(Buffer.from([0, 0, 0, 0, 3, 0x61, 0x62, 0x63]));
      await done;
      expect(Buffer.concat(chunks).subarray(5).toString()).toBe('abc');
      padded.close();
    } finally {
      session.close();
    }
  });
});
