import { listenHttp, type HttpEndpoint } from '../../ipamd/serve/http-listen.js';
import { introspectionHandler } from '../../ipamd/serve/introspection.js';
import { Metrics } from '../../ipamd/serve/metrics.js';
import { loadSettings } from '../../config/settings.js';
import { MemoryIpam } from '../helpers/memory-ipam.js';

const pod = { namespace: 'default', name: 'web-1', uid: 'u1', netns: '/var/run/netns/x' };
let ipam: MemoryIpam;
let endpoints: HttpEndpoint[] = [];

beforeEach(() => {
  ipam = new MemoryIpam();
});
afterEach(async () => {
  await Promise.all(endpoints.map((e) => e.close()));
  endpoints = [];
});

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe('introspection HTTP', () => {
  test('serves pool, interfaces, allocations, settings and cloud calls as JSON', async () => {
    const settings = loadSettings({ TIDEPOOL_PROVIDER: 'sim', WARM_IP_TARGET: '5' });
    const ep = await listenHttp('127.0.0.1:0', introspectionHandler({ ipam, settings }));
    endpoints.push(ep);
    await ipam.allocate({ network: 'tidepool', containerId: 'c1', ifname: 'eth0' }, pod);

    const pool = await getJson(`${ep.url}/v1/pool`);
    expect(pool.status).toBe(200);
    expect(pool.body).toMatchObject({ ready: true, free: 2, assigned: 1, cooling: 0, total: 3, capacity: 3 });

    const allocations = await getJson(`${ep.url}/v1/allocations`);
    expect(allocations.body).toEqual([
      expect.objectContaining({
        address: '10.0.1.10',
        key: { network: 'tidepool', containerId: 'c1', ifname: 'eth0' },
      }),
    ]);
    expect((await getJson(`${ep.url}/v1/interfaces`)).body).toEqual([
      { id: 'eni-0001', deviceNumber: 1, addresses: ['10.0.1.11', '10.0.1.12'] },
    ]);
    expect((await getJson(`${ep.url}/v1/settings`)).body.pool.warmIpTarget).toBe(5);
    expect((await getJson(`${ep.url}/v1/cloud-calls`)).body.recentCalls[0]).toMatchObject({
      action: 'AssignPrivateIpAddresses',
    });
  });

  test('lists its endpoints, answers 404 for others and 405 for writes', async () => {
    const ep = await listenHttp('127.0.0.1:0', introspectionHandler({ ipam, settings: {} }));
    endpoints.push(ep);
    expect(Object.keys((await getJson(`${ep.url}/`)).body.endpoints)).toContain('/v1/allocations');
    const missing = await getJson(`${ep.url}/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('no such endpoint /v1/nothing');
    const post = await fetch(`${ep.url}/v1/pool`, { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('Prometheus metrics', () => {
  test('exports pool gauges from status() and the observer histograms and counters', async () => {
    const metrics = await Metrics.create({ processMetrics: false });
    metrics.bind(ipam);
    const ep = await listenHttp('127.0.0.1:0', metrics.handler);
    endpoints.push(ep);
    await ipam.allocate({ network: 'tidepool', containerId: 'c1', ifname: 'eth0' }, pod);
    metrics.allocated(0, 1.2);
    metrics.allocated(250, 260);
    metrics.poolEmpty(1500);
    metrics.cloudCall('AssignPrivateIpAddresses', 120, 'ok');
    metrics.cloudCall('AssignPrivateIpAddresses', 5, 'throttled');
    metrics.cloudCall('AttachNetworkInterface', 300, 'error', 'boom');
    metrics.allocateFailed('node-full');
    metrics.grpcCall('Allocate', 0, 1.5);

    const res = await fetch(`${ep.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('tidepool_pool_addresses{state="free"} 2');
    expect(text).toContain('tidepool_pool_addresses{state="assigned"} 1');
    expect(text).toContain('tidepool_pool_addresses{state="cooling"} 0');
    expect(text).toContain('tidepool_pool_total_addresses 3');
    expect(text).toContain('tidepool_pool_capacity_addresses 3');
    expect(text).toContain('tidepool_allocate_duration_seconds_count 2');
    expect(text).toContain('tidepool_allocate_duration_seconds_bucket{le="0.0025"} 1');
    // Cumulative buckets: the warm-pool call waited 0 s, the parked one 0.25 s.
    expect(text).toContain('tidepool_allocate_wait_seconds_bucket{le="0"} 1');
    expect(text).toContain('tidepool_allocate_wait_seconds_bucket{le="0.1"} 1');
    expect(text).toContain('tidepool_allocate_wait_seconds_bucket{le="0.25"} 2');
    expect(text).toContain('tidepool_pool_empty_seconds_total 1.5');
    expect(text).toContain('tidepool_cloud_call_throttles_total{action="AssignPrivateIpAddresses"} 1');
    expect(text).toContain('tidepool_cloud_call_errors_total{action="AttachNetworkInterface"} 1');
    expect(text).toContain(
      'tidepool_cloud_call_duration_seconds_count{action="AssignPrivateIpAddresses",outcome="ok"} 1',
    );
    expect(text).toContain('tidepool_allocate_failures_total{reason="node-full"} 1');
    expect(text).toContain('tidepool_grpc_request_duration_seconds_count{method="Allocate",code="0"} 1');
    expect((await fetch(`${ep.url}/other`)).status).toBe(404);
  });

  test('process metrics include the resident memory', async () => {
    const metrics = await Metrics.create();
    expect(await metrics.registry.metrics()).toMatch(/tidepool_process_resident_memory_bytes \d+/);
  });
});
