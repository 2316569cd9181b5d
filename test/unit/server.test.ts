import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpamServer } from '../../ipamd/serve/grpc.js';
import { silentLogger } from '../../ipamd/log.js';
import { PoolWaitTimeoutError, ShuttingDownError } from '../../ipamd/core/types.js';
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

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edges-server-'));
  socket = join(dir, 'run', 'ipamd.sock');
  ipam = new MemoryIpam();
  server = new IpamServer({ ipam, logger: silentLogger(), podMtu: 8951, vpcCidrs: () => ['10.0.0.0/16'] });
  await server.listen(socket);
  client = new IpamClient(socket);
});

afterEach(async () => {
  client.close();
  await server.shutdown(100);
  rmSync(dir, { recursive: true, force: true });
});

describe('gRPC server', () => {
  test('listens on a Unix socket of mode 0600 in a parent directory created 0700', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });

  test('Allocate returns the allocation with the MTU and VPC CIDRs, and a repeated ADD reuses it', async () => {
    const first = await client.allocate(valid);
    expect(first).toMatchObject({
      address: '10.0.1.10',
      deviceNumber: 1,
      routeTable: 2,
      subnetGateway: '10.0.1.1',
      subnetCidr: '10.0.1.0/24',
      mtu: 8951,
      vpcCidrs: ['10.0.0.0/16'],
      interfaceId: 'eni-0001',
      reused: false,
    });
    const again = await client.allocate(valid);
    expect(again).toMatchObject({ address: '10.0.1.10', reused: true });
  });

  test('Check, Release and Gc act on the allocation key', async () => {
    await client.allocate(valid);
    await client.allocate({ ...valid, containerId: 'c0ffee02' });
    expect(await client.check(valid)).toMatchObject({ found: true, address: '10.0.1.10' });
    expect(await client.release({ ...valid, reason: 'test' })).toMatchObject({
      released: true,
      address: '10.0.1.10',
    });
    expect(await client.release(valid)).toMatchObject({ released: false, address: '' });
    expect(await client.check(valid)).toMatchObject({ found: false });
    const gc = await client.gc({ network: 'tidepool', valid: [] });
    expect(gc.released).toEqual(['10.0.1.11']);
  });

  test('Status reports the pool', async () => {
    await client.allocate(valid);
    expect(await client.status()).toMatchObject({ ready: true, free: 2, assigned: 1, total: 3, capacity: 3 });
  });

  test.each([
    [{ containerId: '' }, 'container_id: is required'],
    [{ containerId: '-bad' }, 'container_id: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$'],
    [{ containerId: 'a/b' }, 'container_id: must match'],
    [{ network: 'net work' }, 'network: must match'],
    [{ network: '' }, 'network: is required'],
    [{ ifname: 'eth0123456789012' }, 'ifname: must be at most 15 bytes'],
    [{ ifname: '..' }, 'ifname: must not be "." or ".."'],
    [{ ifname: 'eth:0' }, "ifname: must not contain '/', ':' or whitespace"],
    [{ ifname: 'eth 0' }, "ifname: must not contain '/', ':' or whitespace"],
    [{ ifname: 'a/b' }, "ifname: must not contain '/', ':' or whitespace"],
    [{ netns: '' }, 'netns: is required'],
    [{ podNamespace: 'Kube_System' }, 'pod_namespace: must be a Kubernetes namespace name'],
    [{ podName: 'UPPER' }, 'pod_name: must be a Kubernetes pod name'],
  ])('Allocate with %j is INVALID_ARGUMENT naming the field', async (bad, message) => {
    const err = await refusal(client.allocate({ ...valid, ...bad }));
    expect(err.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(err.details).toContain(message);
    expect(ipam.allocations.size).toBe(0);
  });

  test('Release, Check and Gc validate their fields too', async () => {
    expect((await refusal(client.release({ ...valid, ifname: '' }))).details).toBe('ifname: is required');
    expect((await refusal(client.check({ ...valid, network: '.x' }))).details).toContain(
      'network: must match',
    );
    const gcErr = await refusal(
      client.gc({ network: 'tidepool', valid: [{ containerId: 'ok', ifname: 'x/y' }] }),
    );
    expect(gcErr.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(gcErr.details).toContain('valid[0].ifname');
  });

  test('a body that is not protobuf is INVALID_ARGUMENT, not INTERNAL', async () => {
    // A raw call with a truncated varint: field 2 (container_id), length 0xff… never finishes.
    const grpc = await import('@grpc/grpc-js');
    const raw = new grpc.Client(`unix:${socket}`, grpc.credentials.createInsecure());
    const err = await new Promise<GrpcError>((resolve) =>
      raw.makeUnaryRequest(
        '/tidepool.v1.Ipam/Allocate',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x12, 0xff]),
        (e) => resolve(e as GrpcError),
      ),
    );
    raw.close();
    expect(err.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(err.details).toContain('request: is not a valid protobuf message');
  });

  test('typed core errors map to gRPC codes', async () => {
    await client.allocate({ ...valid, containerId: 'a1' });
    await client.allocate({ ...valid, containerId: 'a2' });
    await client.allocate({ ...valid, containerId: 'a3' });
    const full = await refusal(client.allocate({ ...valid, containerId: 'a4' }));
    expect(full.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect(full.details).toContain('node is full');

    ipam.failWith = new PoolWaitTimeoutError('waited 10000 ms for the pool; the cloud call is still running');
    const timeout = await refusal(client.allocate({ ...valid, containerId: 'a5' }));
    expect(timeout.code).toBe(grpcStatus.UNAVAILABLE);
    expect(timeout.details).toContain('waited 10000 ms');

    ipam.failWith = new ShuttingDownError('shutting down');
    expect((await refusal(client.allocate({ ...valid, containerId: 'a6' }))).code).toBe(
      grpcStatus.UNAVAILABLE,
    );

    ipam.failWith = new Error('disk I/O error');
    expect((await refusal(client.allocate({ ...valid, containerId: 'a7' }))).code).toBe(grpcStatus.INTERNAL);
  });

  test('health is SERVING when the core is ready, NOT_SERVING when not, NOT_FOUND for another service', async () => {
    expect(await client.healthCheck()).toEqual({ status: 1 });
    expect(await client.healthCheck('tidepool.v1.Ipam')).toEqual({ status: 1 });
    ipam.ready = false;
    await new Promise((r) => setTimeout(r, 250)); // health follows readiness within its refresh period
    expect(await client.healthCheck()).toEqual({ status: 2 });
    expect((await refusal(client.healthCheck('other.Service'))).code).toBe(grpcStatus.NOT_FOUND);
  });

  test('shutdown lets an Allocate in flight finish, then refuses new calls', async () => {
    let open!: () => void;
    await client.status(); // the connection is up before the call that shutdown must let finish
    ipam.gate = new Promise((r) => (open = r));
    const inFlight = client.allocate(valid);
    await new Promise((r) => setTimeout(r, 100));
    const stopping = server.shutdown(5000);
    await new Promise((r) => setTimeout(r, 50));
    open();
    expect((await inFlight).address).toBe('10.0.1.10');
    expect(await stopping).toEqual({ forced: false });
    const after = await refusal(client.status(1000));
    expect([grpcStatus.UNAVAILABLE, grpcStatus.DEADLINE_EXCEEDED]).toContain(after.code);
  });
});

describe('socket path', () => {
  test('a stale socket is removed, a live one or a regular file is refused', async () => {
    const stale = join(dir, 'stale.sock');
    const other = createServer();
    await new Promise<void>((r) => other.listen(stale, r));
    const second = new IpamServer({ ipam, logger: silentLogger(), podMtu: 9001, vpcCidrs: () => [] });
    await expect(second.listen(stale)).rejects.toThrow('another process is already serving');
    // A crashed daemon leaves the socket file behind with nobody listening.
    await new Promise<void>((r) => other.close(() => r()));
    writeFileSync(join(dir, 'plain'), 'x');
    await expect(second.listen(join(dir, 'plain'))).rejects.toThrow('is not a socket');
    await second.shutdown(100);
  });
});
