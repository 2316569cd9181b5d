// The sim provider on Kubernetes with no TIDEPOOL_SIM_INSTANCE_ID (a DaemonSet has one env for every node)
// takes its instance from its Node's providerID and never guesses: a Node without one makes the daemon
// exit with an error naming the problem, before it launches or touches any instance in the cloud.
import { jest } from '@jest/globals';
import { TestNode } from '../helpers/daemon.js';
import { KubeControlPlane } from '../helpers/kube-apiserver.js';

jest.setTimeout(240_000);

let cp: KubeControlPlane;
let n: TestNode | undefined;

beforeAll(async () => {
  cp = await KubeControlPlane.start();
});

afterAll(async () => {
  await n?.cleanup();
  await cp?.stop();
});

test('a Node without providerID: the daemon refuses to guess its instance and exits saying why', async () => {
  await cp.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-noid' }, spec: {} });
  n = await TestNode.create({
    start: false,
    env: {
      KUBECONFIG: cp.kubeconfig,
      MY_NODE_NAME: 'node-noid',
      TIDEPOOL_SIM_INSTANCE_ID: '',
      TIDEPOOL_NAMESPACE: 'kube-system',
    },
  });
  n.daemon.wrap = ['ip', 'netns', 'exec', cp.ns.name];
  const before = await n.sim.admin.state();
  const proc = n.daemon.spawn();
  const exit = await proc.exited;
  expect(exit.code).not.toBe(0);
  expect(proc.log()).toContain(
    'TIDEPOOL_SIM_INSTANCE_ID is empty and Node node-noid has no providerID of the form aws:///<zone>/<instance-id>',
  );
  // No instance was launched for a guessed id (i-<hostname>).
  expect((await n.sim.admin.state()).instances).toEqual(before.instances);
});
