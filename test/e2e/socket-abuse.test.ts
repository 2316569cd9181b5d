// The daemon's socket under abuse by a local client (issue: reliability under hostile input): 2,000 idle
// connections, floods of PING and SETTINGS frames whose acknowledgements are never read, and header blocks
// far over any limit (HEADERS + endless CONTINUATION). Through all of it a normal Allocate, from the plugin's
// own client, answers within 1 s, the abusive connections are closed by the server, and the daemon's
// resident memory stays under its bound (idle + TIDEPOOL_GRPC_MAX_CONNECTIONS × _CONNECTION_MEMORY_MIB).
// The daemon is the real process, in a network namespace of the test's own; the socket is a file.
import { connect, type Socket } from 'node:net';
import { DaemonClient } from '../../cni/client.js';
import { TestNode } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

const MAX_CONNECTIONS = 64;
const CONNECTION_MIB = 4;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}
const SETTINGS = (payload = Buffer.alloc(0)) => frame(0x4, 0, 0, payload);
const PING = (n: number) => frame(0x6, 0, 0, Buffer.alloc(8, n & 0xff));

interface Conn {
  sock: Socket;
  closed: Promise<void>;
  received: Buffer[];
}

/** A connection, or null when the server's accept queue is full (EAGAIN: "try again later"). */
function tryOpen(path: string): Promise<Conn | null> {
  return open(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EAGAIN') return null;
    throw err;
  });
}

function open(path: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const received: Buffer[] = [];
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => undefined);
    sock.once('connect', () => resolve({ sock, closed, received }));
    sock.once('error', reject);
  });
}

/** Did the server send a GOAWAY (type 0x7) on this connection? */
function sawGoaway(c: Conn): boolean {
  const all = Buffer.concat(c.received);
  for (let i = 0; i + 9 <= all.length;) {
    const len = all.readUIntBE(i, 3);
    if (all[i + 3] === 0x7) return true;
    i += 9 + len;
  }
  return false;
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms),
    ),
  ]);

let ns: Netns;
let node: TestNode;

async function allocateWithin(id: string, ms: number): Promise<number> {
  const client = new DaemonClient(node.daemon.socket);
  const t0 = performance.now();
  try {
    const res = await within(
      client.call(
        'Allocate',
        {
          network: 'tidepool',
          containerId: id,
          ifname: 'eth0',
          netns: `/var/run/netns/${id}`,
          podNamespace: 'abuse',
          podName: id,
          podUid: '',
        },
        ms,
      ),
      ms,
      `Allocate ${id}`,
    );
    expect(res.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const took = performance.now() - t0;
    process.stdout.write(`socket abuse: Allocate ${id} answered in ${took.toFixed(1)} ms\n`);
    return took;
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  ns = Netns.create('abuse');
  node = await TestNode.create({
    instanceType: 'm5.4xlarge',
    start: false,
    env: {
      WARM_IP_TARGET: '20',
      TIDEPOOL_GRPC_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      TIDEPOOL_GRPC_CONNECTION_MEMORY_MIB: String(CONNECTION_MIB),
    },
  });
  node.daemon.wrap = ['ip', 'netns', 'exec', ns.name];
  await node.daemon.start();
}, 60_000);

afterAll(async () => {
  await node?.cleanup();
  ns?.cleanup();
});

/** The daemon's process (under `ip netns exec`, the wrapper execs it: same pid). */
const rss = () => node.daemon.rssMiB();

test('2,000 idle connections, control-frame floods and oversized header blocks: Allocate still answers within 1 s, memory stays bounded', async () => {
  await allocateWithin('warmup', 10_000);
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = rss();
  const bound = idleRss + MAX_CONNECTIONS * CONNECTION_MIB;
  let peak = idleRss;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
  const held: Conn[] = [];
  try {
    // 2,000 connections that never say a word, 100 at a time; the server keeps at most its limit open.
    let full = 0;
    for (let i = 0; i < 2000; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => tryOpen(node.daemon.socket)));
      for (const c of batch) if (c) held.push(c);
      full += batch.filter((c) => !c).length;
    }
    process.stdout.write(
      `socket abuse: ${held.length} of 2000 idle connections opened, ${full} found the queue full\n`,
    );
    expect(await allocateWithin('after-idle', 1000)).toBeLessThan(1000);

    // A PING flood and a SETTINGS flood whose acknowledgements the client never reads.
    const pinger = await open(node.daemon.socket);
    const settler = await open(node.daemon.socket);
    pinger.sock.on('data', (d) => pinger.received.push(d));
    settler.sock.on('data', (d) => settler.received.push(d));
    pinger.sock.pause();
    settler.sock.pause();
    pinger.sock.write(Buffer.concat([PREFACE, SETTINGS()]));
    settler.sock.write(Buffer.concat([PREFACE, SETTINGS()]));
    const pings = Buffer.concat(Array.from({ length: 2000 }, (_, k) => PING(k)));
    const settings = Buffer.concat(
      Array.from({ length: 2000 }, () => SETTINGS(Buffer.from([0, 4, 0, 0, 0xff, 0xff]))), // INITIAL_WINDOW_SIZE
    );
    for (let k = 0; k < 50; k++) {
      if (!pinger.sock.destroyed) pinger.sock.write(pings);
      if (!settler.sock.destroyed) settler.sock.write(settings);
    }
    expect(await allocateWithin('during-floods', 1000)).toBeLessThan(1000);
    pinger.sock.resume();
    settler.sock.resume();
    await within(Promise.all([pinger.closed, settler.closed]), 10_000, 'the flooding connections closed');
    // The server closed both (the client never did); whether its GOAWAY made it through the unread
    // acknowledgements in front of it depends on the socket buffers, so it is reported, not asserted.
    process.stdout.write(
      `socket abuse: flooding connections closed by the daemon (GOAWAY seen: ping ${sawGoaway(pinger)}, settings ${sawGoaway(settler)})\n`,
    );

    // Header blocks far over the limit: one HEADERS without END_HEADERS, then 16 KiB CONTINUATIONs.
    const header = await open(node.daemon.socket);
    header.sock.on('data', (d) => header.received.push(d));
    const block = Buffer.alloc(16 * 1024, 0x40); // literal header fields, never terminated
    header.sock.write(Buffer.concat([PREFACE, SETTINGS(), frame(0x1, 0x4 & 0, 1, block)]));
    for (let k = 0; k < 1000 && !header.sock.destroyed; k++) header.sock.write(frame(0x9, 0, 1, block));
    await within(header.closed, 10_000, 'the connection sending an endless header block closed');
    expect(await allocateWithin('after-headers', 1000)).toBeLessThan(1000);
  } finally {
    clearInterval(sampler);
    for (const c of held) c.sock.destroy();
  }
  peak = Math.max(peak, rss());
  process.stdout.write(
    `socket abuse: daemon RSS idle ${idleRss.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB\n`,
  );
  expect(peak).toBeLessThan(bound);
  // And the daemon is still the same process, serving.
  expect(node.daemon.proc.alive).toBe(true);
  expect(await allocateWithin('at-the-end', 1000)).toBeLessThan(1000);
}, 180_000);
