// The daemon as a process: real tidepool-ipamd on a real tidepool-sim server, in a temporary directory,
// host network management off (no namespace is touched).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Proc, TestNode } from '../helpers/daemon.js';
import { grpcStatus, IpamClient, type GrpcError } from '../helpers/ipam-client.js';

const nodes: TestNode[] = [];
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.cleanup()));
});

async function node(opts: Parameters<typeof TestNode.create>[0] = {}): Promise<TestNode> {
  const n = await TestNode.create(opts);
  nodes.push(n);
  return n;
}

const pod = (id: string) => ({
  network: 'tidepool',
  containerId: id,
  ifname: 'eth0',
  netns: `/var/run/netns/${id}`,
  podNamespace: 'default',
  podName: `pod-${id}`,
  podUid: `uid-${id}`,
});

describe('tidepool-ipamd process', () => {
  test('bad configuration: exits 2 listing every invalid variable, before creating the socket or the state', async () => {
    const n = await node({
      start: false,
      env: { WARM_IP_TARGET: 'ten', TIDEPOOL_POOL_POLICY: 'greedy', POD_MTU: '70000' },
    });
    const p = n.daemon.spawn();
    expect(await p.exited).toEqual({ code: 2, signal: null });
    const out = p.log();
    expect(out).toContain('WARM_IP_TARGET="ten": must be an integer');
    expect(out).toContain('TIDEPOOL_POOL_POLICY="greedy": must be one of aws-compatible, adaptive');
    expect(out).toContain('POD_MTU="70000": must be an integer between 576 and 9001');
    expect(existsSync(n.daemon.socket)).toBe(false);
    expect(existsSync(n.daemon.stateDir)).toBe(false);
  });

  test('TIDEPOOL_PROVIDER=azure with no Azure IMDS to answer: the daemon says so, serves NOT_SERVING, keeps trying', async () => {
    // A closed loopback port stands for the missing IMDS: nothing leaves the machine.
    const n = await node({
      start: false,
      env: { TIDEPOOL_PROVIDER: 'azure', TIDEPOOL_IMDS_ENDPOINT: 'http://127.0.0.1:1' },
    });
    const p = n.daemon.spawn();
    await n.daemon.waitServing({ serving: false });
    const client = new IpamClient(n.daemon.socket);
    try {
      expect(await client.healthCheck()).toEqual({ status: 2 });
      for (let i = 0; i < 200 && !/Azure IMDS is unreachable/.test(p.log()); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(p.log()).toMatch(/Azure IMDS is unreachable/);
      expect(p.alive).toBe(true);
    } finally {
      client.close();
    }
    expect((await n.daemon.proc.stop()).code).toBe(0);
  });

  test('serves Allocate from the sim, shows it in introspection and metrics, survives a restart', async () => {
    const n = await node({ env: { WARM_IP_TARGET: '3', MINIMUM_IP_TARGET: '4' } });
    const client = new IpamClient(n.daemon.socket);
    try {
      const a = await client.allocate(pod('aaa1'));
      expect(a.address).toMatch(/^10\.0\.\d+\.\d+$/);
      expect(a.mtu).toBe(9001);
      expect(a.vpcCidrs).toEqual(['10.0.0.0/16']);
      const cloud = await n.sim.interfacesOf(n.daemon.instanceId);
      expect(cloud.flatMap((i) => i.addresses)).toContain(a.address);

      const allocations = await n.daemon.introspect<any[]>('/v1/allocations');
      expect(allocations).toEqual([
        expect.objectContaining({ address: a.address, pod: expect.objectContaining({ name: 'pod-aaa1' }) }),
      ]);
      const pool = await n.daemon.introspect('/v1/pool');
      expect(pool).toMatchObject({
        ready: true,
        assigned: 1,
        capacity: 27,
        limits: { instanceType: 'm5.large' },
      });
      expect((await n.daemon.introspect('/v1/settings')).cloud.provider).toBe('sim');
      expect(await n.daemon.introspect('/v1/cloud-calls')).toHaveProperty('recentCalls');

      const metrics = await (await fetch(`${n.daemon.metricsUrl}/metrics`)).text();
      expect(metrics).toContain('tidepool_pool_addresses{state="assigned"} 1');
      expect(metrics).toMatch(/tidepool_grpc_request_duration_seconds_count\{method="Allocate",code="0"\} 1/);
      expect(metrics).toMatch(
        /tidepool_cloud_call_duration_seconds_count\{action="DescribeNetworkInterfaces",outcome="ok"\} \d+/,
      );

      // kill -9 and restart: the allocation is served from the store, the same address for the same key.
      n.daemon.proc.kill('SIGKILL');
      await n.daemon.proc.exited;
      await n.daemon.start();
      const again = await client.allocate(pod('aaa1'));
      expect(again).toMatchObject({ address: a.address, reused: true });
      expect(await client.check(pod('aaa1'))).toMatchObject({ found: true, address: a.address });
      expect(await client.release({ ...pod('aaa1'), reason: 'test' })).toMatchObject({ released: true });
    } finally {
      client.close();
    }
  });

  test('SIGTERM: an Allocate in flight completes, new calls are refused, the daemon exits 0 and removes its socket', async () => {
    // Slow cloud: assigning addresses takes 1.5 s, so an Allocate on the empty pool stays parked that long.
    const n = await node({
      start: false,
      env: { WARM_ENI_TARGET: '0', WARM_IP_TARGET: '0', MINIMUM_IP_TARGET: '0' },
    });
    const profile = join(n.dir, 'latency.json');
    writeFileSync(profile, JSON.stringify({ AssignPrivateIpAddresses: 1500 }));
    n.sim.proc.kill('SIGKILL');
    await n.sim.proc.exited;
    (n.sim as unknown as { args: string[] }).args = ['--latency', profile];
    await n.sim.start();
    await n.daemon.start();

    const client = new IpamClient(n.daemon.socket);
    const late = new IpamClient(n.daemon.socket);
    try {
      await late.status(); // connected before the signal: refused on its existing connection afterwards
      const inFlight = client.allocate(pod('bbb1'));
      // Signal only once the call is in the daemon, parked for the pool (as introspection shows).
      while ((await n.daemon.introspect<{ parked: number }>('/v1/pool')).parked < 1)
        await new Promise((r) => setTimeout(r, 10));
      n.daemon.proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const refused = await late.allocate(pod('bbb2'), 3000).then(
        () => null,
        (e: GrpcError) => e,
      );
      const done = await inFlight;
      expect(done.address).toMatch(/^10\.0\./);
      expect(done.waitedMs).toBeGreaterThanOrEqual(1000);
      expect(refused?.code).toBe(grpcStatus.UNAVAILABLE);
      expect(await n.daemon.proc.exited).toEqual({ code: 0, signal: null });
      expect(n.daemon.proc.log()).toContain('stopped cleanly');
      expect(existsSync(n.daemon.socket)).toBe(false);
    } finally {
      client.close();
      late.close();
    }
    // The allocation the client saw succeed is durable: a new daemon on the same store has it.
    await n.daemon.start();
    const after = new IpamClient(n.daemon.socket);
    try {
      expect(await after.check(pod('bbb1'))).toMatchObject({ found: true });
    } finally {
      after.close();
    }
  });

  test('a second daemon on the same state or the same socket refuses to start; the first keeps serving', async () => {
    const n = await node();
    // Same configuration: refused on the socket, before it opens the store or calls the cloud.
    const same = Proc.spawn(BIN.daemon, [], n.daemon.env, join(n.dir, 'second.log'));
    expect((await same.exited).code).toBe(1);
    expect(same.log()).toContain('another process is already serving on this socket');
    // Another socket but the same state directory: refused by the store's lock.
    const sameState = { ...n.daemon.env, TIDEPOOL_SOCKET: join(n.dir, 'run2', 'ipamd.sock') };
    const third = Proc.spawn(BIN.daemon, [], sameState, join(n.dir, 'third.log'));
    expect((await third.exited).code).toBe(1);
    expect(third.log()).toContain('is locked by another process');
    const client = new IpamClient(n.daemon.socket);
    try {
      expect((await client.healthCheck()).status).toBe(1);
    } finally {
      client.close();
    }
  });
});
