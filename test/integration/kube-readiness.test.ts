// Node readiness from the real pool, on a real kube-apiserver: the condition tidepool.io/NetworkReady is False
// with its reason and message (free and total addresses) while the pool cannot serve, then True, and only
// then is the conflist written and the startup taint removed (other taints kept); a graceful stop turns the
// condition False; Events on missing cloud permissions and on address exhaustion; the Node's providerID and
// instance-type label are used instead of the daemon's guesses.
import { jest } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from '../helpers/netns.js';
import type { TestNode } from '../helpers/daemon.js';
import { IpamClient } from '../helpers/ipam-client.js';
import {
  KubeControlPlane,
  STARTUP_TAINT,
  eventually,
  kubeNode,
  networkCondition,
  nodeEvents,
} from '../helpers/kube-apiserver.js';

jest.setTimeout(240_000);

// cnitool (libcni v1.3.0, setup.sh installs it) asks STATUS as a CNI 1.1 runtime does, from the conflist the
// daemon installed.
const CNITOOL = resolve(process.env.GOBIN ?? '.cache/gobin', 'cnitool');
const cniStatus = (ns: string, confDir: string) =>
  run('ip', [
    'netns',
    'exec',
    ns,
    'env',
    `NETCONFPATH=${confDir}`,
    `CNI_PATH=${resolve('dist/bin')}`,
    CNITOOL,
    'status',
    'tidepool',
    `/run/netns/${ns}`,
  ]);

let cp: KubeControlPlane;
const nodes: TestNode[] = [];

beforeAll(async () => {
  cp = await KubeControlPlane.start();
});

afterAll(async () => {
  for (const n of nodes) await n.cleanup();
  await cp?.stop();
});

const pod = (i: number) => ({
  network: 'tidepool',
  containerId: `c${i}`.padEnd(12, '0'),
  ifname: 'eth0',
  netns: `/var/run/netns/p${i}`,
  podNamespace: 'default',
  podName: `web-${i}`,
  podUid: `uid-${i}`,
});

test('the condition is False with its reason until the pool can serve; then True, conflist written, startup taint removed', async () => {
  const other = { key: 'example.com/dedicated', value: 'x', effect: 'NoSchedule' };
  const n = await kubeNode(cp, 'node-ready', {
    taints: [STARTUP_TAINT, other],
    // Debian 12's portmap speaks CNI up to 1.0.0: a 1.1.0 list with it fails STATUS in libcni.
    env: { TIDEPOOL_CNI_PORTMAP: 'false' },
  });
  nodes.push(n);
  const confDir = join(n.dir, 'net.d');
  n.daemon.env.TIDEPOOL_CNI_CONF_DIR = confDir;
  // The conflist names the plugin's log file: keep it in the test's directory.
  n.daemon.env.AWS_VPC_K8S_PLUGIN_LOG_FILE = join(n.dir, 'plugin.log');
  const conflist = join(confDir, '10-tidepool.conflist');
  // The cloud refuses every address: the pool cannot serve.
  await n.sim.admin.setFaults({
    AssignPrivateIpAddresses: { probability: 1, error: 'unauthorized' },
    CreateNetworkInterface: { probability: 1, error: 'unauthorized' },
  });
  n.daemon.spawn();
  await n.daemon.waitServing({ serving: false });

  const notReady = await eventually('a False condition with a reason', async () => {
    const c = await networkCondition(cp, 'node-ready');
    return c?.status === 'False' && c.reason === 'CloudCallsFailing' ? c : undefined;
  });
  expect(notReady.message).toMatch(/0 free of \d+ addresses/);
  expect(notReady.message).toMatch(/UnauthorizedOperation|not authorized/);
  const client = new IpamClient(n.daemon.socket);
  try {
    expect(await client.status()).toMatchObject({ ready: false });
    expect(existsSync(conflist)).toBe(false);
    let node = await cp.getJson(['get', 'node', 'node-ready']);
    expect(node.spec.taints).toEqual(expect.arrayContaining([expect.objectContaining(STARTUP_TAINT)]));
    const denied = await eventually('a MissingIAMPermissions Event', async () =>
      (await nodeEvents(cp, 'node-ready')).find((e) => e.reason === 'MissingIAMPermissions'),
    );
    expect(denied).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Node', name: 'node-ready' } });

    // The permission is granted: the pool fills, and the node is declared ready.
    await n.sim.admin.setFaults({});
    const ready = await eventually(
      'a True condition',
      async () => {
        const c = await networkCondition(cp, 'node-ready');
        return c?.status === 'True' ? c : undefined;
      },
      60_000,
    );
    expect(ready.reason).toBe('PoolReady');
    expect(ready.message).toMatch(/^[1-9]\d* free of [1-9]\d* addresses/);
    node = await eventually('the startup taint removed', async () => {
      const o = await cp.getJson(['get', 'node', 'node-ready']);
      return (o.spec.taints ?? []).some((t: { key: string }) => t.key === STARTUP_TAINT.key) ? undefined : o;
    });
    // The other taints stay (the API server's admission adds node.kubernetes.io/not-ready to a new Node).
    expect(node.spec.taints).toEqual(expect.arrayContaining([expect.objectContaining(other)]));
    expect(node.spec.taints.map((t: { key: string }) => t.key).sort()).toEqual([
      'example.com/dedicated',
      'node.kubernetes.io/not-ready',
    ]);
    const written = JSON.parse(readFileSync(conflist, 'utf8'));
    expect(written).toMatchObject({ cniVersion: '1.1.0', name: 'tidepool' });
    expect(written.plugins[0]).toMatchObject({ type: 'tidepool', socket: n.daemon.socket });
    expect(await client.status()).toMatchObject({ ready: true });
    expect(await cniStatus(cp.ns.name, confDir)).toMatchObject({ code: 0 });

    // The daemon took its instance and type from the Node (providerID, label), not from its settings.
    const id = /\/(i-[a-z0-9]+)$/.exec(node.spec.providerID)![1];
    expect(await n.sim.admin.describeInstance(id)).toMatchObject({ type: 'm5.large' });

    // A graceful stop says so before the socket closes; the conflist stays for the running pods.
    await n.daemon.proc.stop(10_000);
    const stopped = await networkCondition(cp, 'node-ready');
    expect(stopped).toMatchObject({ status: 'False', reason: 'DaemonStopping' });
    expect(existsSync(conflist)).toBe(true);
    // STATUS: inside the conflist's restart grace (the daemon's last ready beat is seconds old) it still
    // answers ready, so a rolling restart does not turn the node NotReady; without a grace it fails.
    expect(written.plugins[0].statusGraceSeconds).toBe(30);
    expect(await cniStatus(cp.ns.name, confDir)).toMatchObject({ code: 0 });
    written.plugins[0].statusGraceSeconds = 0;
    writeFileSync(conflist, JSON.stringify(written));
    const down = await cniStatus(cp.ns.name, confDir);
    expect(down.code).not.toBe(0);
    expect(down.stdout + down.stderr).toMatch(/tidepool daemon is not available/);
  } finally {
    client.close();
  }
});

test('an Event appears on address exhaustion, and the condition says the node is full', async () => {
  const n = await kubeNode(cp, 'node-full', {
    instanceType: 't3.nano',
    env: { MAX_ENI: '1', WARM_ENI_TARGET: '1', TIDEPOOL_ADD_WAIT_MS: '500' },
  });
  nodes.push(n);
  await n.daemon.start();
  const client = new IpamClient(n.daemon.socket);
  try {
    // t3.nano with MAX_ENI=1: one interface with one secondary address.
    await eventually('the pool ready', async () =>
      (await networkCondition(cp, 'node-full'))?.status === 'True' ? true : undefined,
    );
    await client.allocate(pod(1));
    await expect(client.allocate(pod(2))).rejects.toThrow(/node full/);
    const ev = await eventually('an AddressExhausted Event', async () =>
      (await nodeEvents(cp, 'node-full')).find((e) => e.reason === 'AddressExhausted'),
    );
    expect(ev.type).toBe('Warning');
    expect(ev.message).toMatch(/node full: 1 of 1 addresses in use/);
    const c = await eventually('the NodeFull condition', async () => {
      const x = await networkCondition(cp, 'node-full');
      return x?.reason === 'NodeFull' ? x : undefined;
    });
    expect(c.status).toBe('False');
    expect(c.message).toMatch(/0 free of 1 addresses \(1 assigned/);
    // A full node keeps serving its pods: STATUS stays up (a STATUS error would turn the node NotReady).
    expect(await client.status()).toMatchObject({ ready: true });
  } finally {
    client.close();
  }
});
