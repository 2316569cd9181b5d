// Cluster-wide chores by one daemon at a time, on a real kube-apiserver: two daemons of one cluster share a
// cloud; only the holder of the coordination.k8s.io Lease tidepool-sweeper sweeps leaked interfaces. When
// the holder dies (SIGKILL: no hand-back), the other takes the Lease over after its duration and sweeps.
import { jest } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonProcess, freePort, type TestNode } from '../helpers/daemon.js';
import { KubeControlPlane, eventually, kubeNode } from '../helpers/kube-apiserver.js';
import { SimHttp } from '../../providers/sim/http.js';
import type { InterfaceView } from '../../providers/sim/model.js';

jest.setTimeout(240_000);

const CLUSTER = 'tp-lease';
let cp: KubeControlPlane;
let a: TestNode;
let b: DaemonProcess | undefined;

beforeAll(async () => {
  cp = await KubeControlPlane.start();
  await cp.k(['create', 'namespace', 'kube-system']).catch(() => undefined);
});

afterAll(async () => {
  b?.proc?.kill('SIGKILL');
  await b?.proc?.exited;
  await a?.cleanup();
  await cp?.stop();
});

const env = {
  CLUSTER_NAME: CLUSTER,
  TIDEPOOL_SWEEP_PERIOD_MS: '300',
  TIDEPOOL_SWEEP_MIN_AGE_MS: '1500',
  TIDEPOOL_LEASE_DURATION_MS: '3000',
};

async function leak(http: SimHttp, subnetId: string): Promise<string> {
  const eni = await http.request<InterfaceView>('POST', '/ec2/CreateNetworkInterface', {
    subnetId,
    tags: { 'tidepool.io/cluster': CLUSTER },
  });
  return eni.id;
}

test('only the Lease holder sweeps; when it dies, the other takes over and sweeps', async () => {
  a = await kubeNode(cp, 'node-la', { env });
  // The second node shares the first one's cloud.
  await cp.apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-lb', labels: { 'node.kubernetes.io/instance-type': 'm5.large' } },
    spec: { providerID: 'aws:///us-east-1a/i-nodelb0001' },
  });
  const dirB = join(a.dir, 'b');
  mkdirSync(dirB);
  const [pi, pm] = [await freePort(), await freePort()];
  b = new DaemonProcess(dirB, a.sim, 'i-nodelb0001', {
    ...a.daemon.env,
    MY_NODE_NAME: 'node-lb',
    TIDEPOOL_SOCKET: join(dirB, 'run', 'ipamd.sock'),
    TIDEPOOL_STATE_DIR: join(dirB, 'state'),
    TIDEPOOL_INTROSPECTION_ADDR: `127.0.0.1:${pi}`,
    TIDEPOOL_METRICS_ADDR: `127.0.0.1:${pm}`,
  });
  b.wrap = a.daemon.wrap;
  await Promise.all([a.daemon.start(), b.start()]);

  const holderOf = async () =>
    (await cp.getJson(['get', 'lease', 'tidepool-sweeper', '-n', 'kube-system'])).spec.holderIdentity;
  const holder = await eventually('a Lease holder', async () => (await holderOf()) || undefined);
  expect(['node-la', 'node-lb']).toContain(holder);
  const [leader, follower] = holder === 'node-la' ? [a.daemon, b] : [b, a.daemon];

  const http = new SimHttp(a.sim.socket);
  try {
    const subnet = (await a.sim.admin.state()).subnets[0].id;
    const gone = async (id: string) =>
      (await a.sim.admin.state()).interfaces.some((i) => i.id === id) ? undefined : true;
    const first = await leak(http, subnet);
    await eventually('the leaked interface swept', () => gone(first));
    expect(leader.proc.log()).toContain(first);
    expect(follower.proc.log()).not.toMatch(/lease acquired/);
    expect(follower.proc.log()).not.toMatch(/deleted leaked interfaces/);

    // The holder crashes: no hand-back; the other waits a lease duration on its own clock, then sweeps.
    leader.proc.kill('SIGKILL');
    await leader.proc.exited;
    const second = await leak(http, subnet);
    await eventually('the other daemon holds the Lease', async () =>
      (await holderOf()) === (holder === 'node-la' ? 'node-lb' : 'node-la') ? true : undefined,
    );
    await eventually('the second leaked interface swept', () => gone(second));
    expect(follower.proc.log()).toContain(second);
  } finally {
    http.agent.destroy();
  }
});
