// The plugin's lean gRPC client against the daemon's real gRPC server (grpc-js, the generated contract)
// on a Unix socket, with the small in-memory Ipam of the edge tests behind it.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  DaemonClient,
  DaemonUnreachableError,
  DeadlineExceededError,
  GrpcStatusError,
} from '../../cni/client.js';
import { daemonError } from '../../cni/daemon.js';
import { IpamServer } from '../../ipamd/serve/grpc.js';
import { MemoryIpam } from '../helpers/memory-ipam.js';

const key = { network: 'tidepool', containerId: 'c1', ifname: 'eth0' };
const pod = { netns: '/run/netns/p1', podNamespace: 'default', podName: 'web-0', podUid: 'u1' };

describe('DaemonClient', () => {
  const connect = async (path: string) => new DaemonClient(path);
  let dir: string;
  let socket: string;
  let ipam: MemoryIpam;
  let server: IpamServer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-client-'));
    socket = join(dir, 'ipamd.sock');
    ipam = new MemoryIpam();
    server = new IpamServer({
      ipam,
      logger: pino({ level: 'silent' }),
      podMtu: 1500,
      vpcCidrs: () => ['10.0.0.0/16'],
    });
    await server.listen(socket);
  });
  afterEach(async () => {
    await server.shutdown(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('allocates, finds, and releases over one session', async () => {
    const c = await connect(socket);
    try {
      const a = await c.call('Allocate', { ...key, ...pod }, 5000);
      expect(a).toMatchObject({
        address: '10.0.1.10',
        routeTable: 2,
        deviceNumber: 1,
        mtu: 1500,
        vpcCidrs: ['10.0.0.0/16'],
        reused: false,
      });
      expect((await c.call('Allocate', { ...key, ...pod }, 5000)).reused).toBe(true);
      expect(await c.call('Check', key, 5000)).toMatchObject({ found: true, address: '10.0.1.10' });
      expect(await c.call('Release', { ...key, reason: 'test' }, 5000)).toMatchObject({
        released: true,
        address: '10.0.1.10',
        routeTable: 2,
      });
      expect((await c.call('Release', { ...key, reason: 'test' }, 5000)).released).toBe(false);
      expect(await c.health(5000)).toBe(1);
    } finally {
      c.close();
    }
  });

  it('reads a non-OK status from the trailers and maps it to a CNI code', async () => {
    const c = await connect(socket);
    try {
      for (const id of ['a', 'b', 'c']) await c.call('Allocate', { ...key, containerId: id, ...pod }, 5000);
      const err = await c.call('Allocate', { ...key, containerId: 'd', ...pod }, 5000).catch((e) => e);
      expect(err).toBeInstanceOf(GrpcStatusError);
      expect(err.status).toBe(8); // RESOURCE_EXHAUSTED
      expect(err.details).toMatch(/node is full/);
      expect(daemonError(err, 'x').code).toBe(11);
      const bad = await c.call('Allocate', { ...key, containerId: 'bad/id', ...pod }, 5000).catch((e) => e);
      expect(bad.status).toBe(3);
      expect(daemonError(bad, 'x').code).toBe(4);
    } finally {
      c.close();
    }
  });

  it('gives up at its deadline when the daemon does not answer', async () => {
    ipam.gate = new Promise(() => {});
    const c = await connect(socket);
    const started = Date.now();
    const err = await c.call('Allocate', { ...key, ...pod }, 300).catch((e) => e);
    c.close();
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(daemonError(err, 'x').code).toBe(11);
  });

  it('reports an absent socket with its errno', async () => {
    const c = await connect(join(dir, 'nothing.sock'));
    const err = await c.call('Status', {}, 2000).catch((e) => e);
    c.close();
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect(err.message).toMatch(/ENOENT/);
  });

  it('reports a refused connection (a socket file nobody listens on)', async () => {
    const stale = join(dir, 'stale.sock');
    // Bound and never listened on: the file stays, connecting is refused.
    execFileSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`,
    ]);
    const c = await connect(stale);
    const err = await c.call('Status', {}, 2000).catch((e) => e);
    c.close();
    expect(err).toBeInstanceOf(DaemonUnreachableError);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('gives up on a daemon whose listen queue stays full', async () => {
    // A listener that never accepts, with a queue of one already taken: a new connection is refused at once
    // (EAGAIN: Linux does not queue a non-blocking connect on a full Unix listener).
    const full = join(dir, 'full.sock');
    const py = spawn('python3', [
      '-c',
      `import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(full)}); s.listen(0)
c = socket.socket(socket.AF_UNIX); c.connect(${JSON.stringify(full)})
print('ready', flush=True); time.sleep(60)`,
    ]);
    try {
      await new Promise((ready) => py.stdout.once('data', ready));
      const c = await connect(full);
      const started = Date.now();
      const err = await c.call('Status', {}, 400).catch((e) => e);
      c.close();
      expect(err).toBeInstanceOf(DaemonUnreachableError);
      expect(err.message).toMatch(/EAGAIN/);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(daemonError(err, 'x').code).toBe(11);
    } finally {
      py.kill();
    }
  });

  it('reports a daemon that drops the connection', async () => {
    const dropping = join(dir, 'dropping.sock');
    const server = createServer((conn) => conn.destroy());
    await new Promise<void>((done) => server.listen(dropping, done));
    const c = await connect(dropping);
    try {
      const err = await c.call('Status', {}, 2000).catch((e) => e);
      expect(err).toBeInstanceOf(DaemonUnreachableError);
      expect(err.message).toMatch(/connection closed|ECONNRESET|EPIPE/);
      expect(daemonError(err, 'x').code).toBe(11);
    } finally {
      c.close();
      await new Promise((done) => server.close(done));
    }
  });
});
