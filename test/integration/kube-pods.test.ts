// The pods bound to the node, on a real kube-apiserver: an allocation whose pod was deleted while the daemon
// was down is released after the restart (once the grace has passed); an allocation whose pod finished
// (Succeeded) while the daemon runs is released through the watch; a live pod's allocation is kept.
import { jest } from '@jest/globals';
import type { TestNode } from '../helpers/daemon.js';
import { IpamClient } from '../helpers/ipam-client.js';
import { KubeControlPlane, eventually, kubeNode } from '../helpers/kube-apiserver.js';

jest.setTimeout(240_000);

let cp: KubeControlPlane;
let n: TestNode;

beforeAll(async () => {
  cp = await KubeControlPlane.start();
});

afterAll(async () => {
  await n?.cleanup();
  await cp?.stop();
});

async function createPod(name: string, node: string): Promise<string> {
  await cp.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      automountServiceAccountToken: false,
      containers: [{ name: 'c', image: 'localhost/pause:test' }],
    },
  });
  return (await cp.getJson(['get', 'pod', name, '-n', 'default'])).metadata.uid;
}

const key = (name: string) => ({
  network: 'tidepool',
  containerId: `ctr-${name}`.padEnd(16, '0'),
  ifname: 'eth0',
});

test('a pod deleted while the daemon was down has its address released after restart; live pods keep theirs', async () => {
  n = await kubeNode(cp, 'node-pods', { env: { TIDEPOOL_POD_GONE_GRACE_MS: '1500' } });
  await n.daemon.start();
  const uids: Record<string, string> = {};
  for (const p of ['web-1', 'web-2', 'job-3']) uids[p] = await createPod(p, 'node-pods');
  let client = new IpamClient(n.daemon.socket);
  const addr: Record<string, string> = {};
  for (const p of Object.keys(uids)) {
    const a = await eventually(`an address for ${p}`, () =>
      client.allocate({
        ...key(p),
        netns: `/var/run/netns/${p}`,
        podNamespace: 'default',
        podName: p,
        podUid: uids[p],
      }),
    );
    addr[p] = a.address;
  }
  client.close();

  await n.daemon.proc.stop(10_000);
  await cp.k(['delete', 'pod', 'web-1', '-n', 'default', '--grace-period=0', '--force']);
  await n.daemon.start();
  client = new IpamClient(n.daemon.socket);
  try {
    // Not at once: the pod must be missing from a synced list for the whole grace.
    expect(await client.check(key('web-1'))).toMatchObject({ found: true, address: addr['web-1'] });
    await eventually('web-1 released', async () =>
      (await client.check(key('web-1'))).found ? undefined : true,
    );
    expect(await client.check(key('web-2'))).toMatchObject({ found: true, address: addr['web-2'] });

    // A pod that finishes while the daemon runs (its DEL lost): released through the watch.
    await cp.k([
      'patch',
      'pod',
      'job-3',
      '-n',
      'default',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Succeeded"}}',
    ]);
    await eventually('job-3 released', async () =>
      (await client.check(key('job-3'))).found ? undefined : true,
    );
    // The live pod is still there after several grace periods.
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await client.check(key('web-2'))).toMatchObject({ found: true, address: addr['web-2'] });
    expect(n.daemon.proc.log()).toMatch(
      /released the address of a pod that is gone.*pod deleted|pod deleted.*released the address/,
    );
  } finally {
    client.close();
  }
});
