// On a real kubelet with containerd 2.x, the node's Ready condition follows Tidepool's CNI STATUS. The
// cluster lab with one node whose containerd is 2.4.2 (TIDEPOOL_LAB_CONTAINERD_BIN, built by
// scripts/k8s/build-containerd.sh) and the chart's conflist at cniVersion 1.1.0 (no portmap: Debian 12's
// speaks at most 1.0.0): containerd's CRI Status asks the plugin STATUS, the kubelet polls it every 5 s.
// Taking the DaemonSet off the node (a nodeSelector no node has) stops the daemon: once the conflist's
// statusGraceSeconds since the daemon's last ready beat have passed (a rolling restart inside it keeps the
// node Ready), STATUS fails and the kubelet turns the node Ready=False ("container runtime network not ready ... tidepool daemon is not
// available"); putting it back makes the node Ready again. On containerd 1.6 (the lab's default) nothing of
// this happens: its libcni has no STATUS. The times, and whether and when the running pod was marked
// NotReady, are printed.
import { randomBytes } from 'node:crypto';
import { WEB_IMAGE, WEB_PORT } from '../../lab/k8s/images.js';
import { ClusterLab, until } from '../helpers/cluster-lab.js';

const CONTAINERD2 = '/var/cache/tidepool/k8s/containerd/v2.4.2/bin';
const log = (msg: string) => process.stderr.write(`k8s-containerd2-status: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The conflist's statusGraceSeconds: STATUS stays ready this long after the daemon's last ready beat. */
const GRACE_S = 12;

describe('the kubelet on containerd 2.x: node Ready follows the CNI STATUS of the daemon', () => {
  const cluster = new ClusterLab(`tc-c2${randomBytes(2).toString('hex')}-`);
  const saved = process.env.TIDEPOOL_LAB_CONTAINERD_BIN;

  const ready = () => {
    const n = cluster.json(['get', 'node', 'node-1']);
    return n.status.conditions.find((c: any) => c.type === 'Ready') as { status: string; message: string };
  };
  const daemonPods = () =>
    cluster.json(['get', 'pods', '-n', 'kube-system', '-l', 'app.kubernetes.io/name=tidepool'])
      .items as any[];

  beforeAll(async () => {
    process.env.TIDEPOOL_LAB_CONTAINERD_BIN = CONTAINERD2;
    await cluster.up(1, [
      '--env',
      'TIDEPOOL_CNI_VERSION=1.1.0',
      '--env',
      'TIDEPOOL_CNI_PORTMAP=false',
      '--env',
      `TIDEPOOL_CNI_STATUS_GRACE_SECONDS=${GRACE_S}`,
    ]);
  }, 960_000);
  afterAll(async () => {
    if (saved === undefined) delete process.env.TIDEPOOL_LAB_CONTAINERD_BIN;
    else process.env.TIDEPOOL_LAB_CONTAINERD_BIN = saved;
    const down = await cluster.down();
    if (down.code !== 0) log(`lab down: exit ${down.code}: ${down.stderr.slice(-3000)}`);
  }, 300_000);

  it('runs the node on containerd 2.4.2 with the conflist at 1.1.0', async () => {
    const n = cluster.json(['get', 'node', 'node-1']);
    expect(n.status.nodeInfo.containerRuntimeVersion).toBe('containerd://2.4.2');
    const conflist = JSON.parse(
      await cluster.nodeMust(cluster.nodes()[0], ['cat', '/etc/cni/net.d/10-tidepool.conflist']),
    );
    expect(conflist.cniVersion).toBe('1.1.0');
    expect(conflist.plugins.map((p: any) => p.type)).toEqual(['tidepool']);
  });

  it('turns the node NotReady while the daemon is gone and Ready again when it is back', async () => {
    cluster.kubectl([
      'run',
      'web',
      `--image=${WEB_IMAGE}`,
      '--image-pull-policy=Never',
      `--port=${WEB_PORT}`,
    ]);
    await until(
      'the web pod Ready',
      () =>
        (cluster.json(['get', 'pod', 'web']).status.conditions ?? []).some(
          (c: any) => c.type === 'Ready' && c.status === 'True',
        ),
      180_000,
    );
    expect(ready().status).toBe('True');

    const t0 = Date.now();
    cluster.kubectl([
      'patch',
      'ds',
      'tidepool',
      '-n',
      'kube-system',
      '-p',
      JSON.stringify({ spec: { template: { spec: { nodeSelector: { 'tidepool.test/none': 'x' } } } } }),
    ]);
    await until('the daemon pod gone', () => daemonPods().length === 0, 120_000);
    const gone = Date.now();
    const down = await until('node-1 Ready=False', () => ready().status === 'False' && ready(), 120_000);
    // Not before the restart grace: the daemon's last beat was at most a few seconds before it went.
    expect(Date.now() - gone).toBeGreaterThan((GRACE_S - 7) * 1000);
    log(
      `daemon gone ${((gone - t0) / 1000).toFixed(1)} s after the patch; node-1 Ready=False ` +
        `${((Date.now() - gone) / 1000).toFixed(1)} s later: ${down.message}`,
    );
    expect(down.message).toMatch(/container runtime network not ready/);
    expect(down.message).toMatch(/tidepool daemon is not available/);
    // What a running pod sees (the node lifecycle controller marks pods of a NotReady node NotReady):
    // observed for up to 60 s, printed, not asserted.
    const webReady = () =>
      (cluster.json(['get', 'pod', 'web']).status.conditions ?? []).find((c: any) => c.type === 'Ready')
        ?.status;
    const watchEnd = Date.now() + 60_000;
    while (webReady() === 'True' && Date.now() < watchEnd) await sleep(1000);
    log(
      `the web pod: Ready=${webReady()} ${((Date.now() - gone) / 1000).toFixed(1)} s after the daemon went ` +
        `(node-1 Ready=${ready().status})`,
    );

    const t1 = Date.now();
    cluster.kubectl([
      'patch',
      'ds',
      'tidepool',
      '-n',
      'kube-system',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/spec/template/spec/nodeSelector/tidepool.test~1none' }]),
    ]);
    await until('node-1 Ready=True', () => ready().status === 'True', 180_000);
    log(`node-1 Ready=True ${((Date.now() - t1) / 1000).toFixed(1)} s after the DaemonSet came back`);
    expect(daemonPods().length).toBe(1);
  }, 600_000);
});
