// `tidepoolctl demo --kubernetes`: the demo on the cluster lab (lab/k8s/): a real control plane, a
// containerd and a kubelet on each node, Tidepool installed with its Helm chart. It shows the nodes
// becoming Ready (the daemon's condition and the startup taint), a Deployment of the local web image
// scaled up in two steps with the time each took, every pod's VPC address and the interface it is on, HTTP
// from pods on one node to every pod on the other, the lab's internet through SNAT, then removes
// everything (Ctrl-C included).
import type { Cleanup } from './cleanup.js';
import { labDown } from '../lab/down.js';
import type { FabricStatus } from '../lab/fabric.js';
import { controlPlaneFor, k8sLabUp, nodeViews, NETWORK_READY } from '../lab/k8s/lab.js';
import { WEB_IMAGE, WEB_PORT } from '../lab/k8s/images.js';
import { spreadDeployment } from '../lab/k8s/workloads.js';
import { createManifest, type Manifest } from '../lab/manifest.js';
import { defaultStateDir } from '../lab/names.js';
import { simLabCloud } from '../lab/sim-cloud.js';
import { INTERNET_SERVER, WHOAMI_PORT } from '../lab/topology.js';
import { labUp } from '../lab/up.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labCommand } from './lab-adapter.js';
import type { DemoOptions } from './options.js';

interface Pod {
  name: string;
  node: string;
  ip: string;
  ready: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deployment(replicas: number): string {
  return JSON.stringify(
    spreadDeployment({
      name: 'web',
      replicas,
      image: WEB_IMAGE,
      port: WEB_PORT,
      readinessPath: '/',
      honorTaints: true,
    }),
  );
}

export async function runKubernetesDemo(
  opts: DemoOptions,
  runId: string,
  say: (line: string) => void,
  cleanup: Cleanup,
  signal: { stopped: boolean },
): Promise<{ code: number; lab?: { prefix: string; stateDir: string } }> {
  const prefix = `${process.env.TIDEPOOL_DEMO_PREFIX || 'tp-demo-'}${runId}-`;
  const stateDir = defaultStateDir(prefix);
  const t0 = Date.now();
  say(
    `Tidepool demo on Kubernetes: ${opts.nodes} kubelet node${opts.nodes === 1 ? '' : 's'} (${opts.instanceType}), ` +
      `a Deployment of ${opts.pods} web pods, policy ${opts.policy}, the embedded EC2 simulator`,
  );
  const m: Manifest = createManifest(stateDir, prefix, {
    nodes: opts.nodes,
    instanceType: opts.instanceType,
    policy: opts.policy,
    provider: 'sim',
    env: {},
    cloudArgs: ['--latency=realistic'],
    daemon: 'none',
    kubernetes: true,
  });
  const lab = { prefix, stateDir };
  cleanup.add('lab down', async () => {
    const errors = await labDown(m, () => {});
    if (errors.length) throw new Error(errors.join('; '));
  });
  const cloud = simLabCloud(m);
  say('bringing up the lab: VPC fabric, control plane, a containerd and kubelet per node, helm install…');
  await labUp({
    m,
    cloud,
    fabricArgv: [...labCommand(), '_fabric', '--prefix', prefix, '--state-dir', stateDir],
    log: (l) => say(`  lab: ${l}`),
  });
  if (signal.stopped) return { code: 130, lab };
  await k8sLabUp(m, cloud, (l) => say(`  lab: ${l}`));
  if (signal.stopped) return { code: 130, lab };
  const cp = controlPlaneFor(m);
  say(
    `cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (namespaces ${prefix}*, state in ${stateDir})`,
  );
  for (const v of nodeViews(cp))
    say(
      `  ${v.name}: Ready=${v.ready}, startup taint ${v.tainted ? 'present' : 'removed'}, ` +
        `${NETWORK_READY}=${v.networkReady?.status} (${v.networkReady?.reason}: ${v.networkReady?.message})`,
    );

  const podsNow = (): Pod[] =>
    (JSON.parse(cp.kc(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as any[]).map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? '',
      ip: p.status.podIP ?? '',
      ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    }));
  const scaleTo = async (n: number): Promise<Pod[]> => {
    const start = Date.now();
    cp.kc(['apply', '-f', '-'], deployment(n));
    for (;;) {
      const ps = podsNow();
      if (ps.length === n && ps.every((p) => p.ready)) {
        say(`  ${n} pods Ready in ${((Date.now() - start) / 1000).toFixed(1)} s`);
        return ps;
      }
      if (signal.stopped) return ps;
      if (Date.now() - start > 300_000)
        throw new Error(`only ${ps.filter((p) => p.ready).length} of ${n} pods Ready after 300 s`);
      await sleep(500);
    }
  };
  const first = Math.max(1, Math.floor(opts.pods / 2));
  say(`== Deployment web: ${first} replicas`);
  await scaleTo(first);
  if (signal.stopped) return { code: 130, lab };
  say(`== scaled to ${opts.pods} replicas`);
  const pods = await scaleTo(opts.pods);
  if (signal.stopped) return { code: 130, lab };

  const fabricFile = join(stateDir, 'fabric.json');
  const interfaces: FabricStatus['interfaces'] = existsSync(fabricFile)
    ? (JSON.parse(readFileSync(fabricFile, 'utf8')) as FabricStatus).interfaces
    : [];
  say("== addresses (VPC addresses on the nodes' interfaces)");
  for (const p of [...pods].sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name))) {
    const i = interfaces.find((x) => x.addresses.includes(p.ip));
    say(
      `  ${p.node}  ${p.name.padEnd(24)} ${p.ip.padEnd(15)} ${i ? `eth${i.deviceNumber} ${i.interfaceId}` : '(not on an interface the fabric routes)'}`,
    );
  }

  say('== traffic: HTTP from a pod on each node to every pod on the others, and to the internet');
  let failed = 0;
  const nodes = [...new Set(pods.map((p) => p.node))].sort();
  for (const n of nodes) {
    const from = pods.find((p) => p.node === n)!;
    const targets = pods.filter((p) => p.node !== n);
    const script = targets
      .map(
        (t) =>
          `wget -qO- http://${t.ip}:${WEB_PORT}/ >/dev/null 2>&1 && echo ok ${t.ip} || echo FAIL ${t.ip}`,
      )
      .join('; ');
    const out = targets.length ? cp.kc(['exec', from.name, '--', 'sh', '-c', script]) : '';
    const fails = out.split('\n').filter((l) => l.startsWith('FAIL'));
    failed += fails.length;
    say(
      `  ${from.name} (${n}) → ${targets.length} pods on other nodes: ${targets.length - fails.length} answered${fails.length ? `, no answer from ${fails.map((l) => l.slice(5)).join(' ')}` : ''}`,
    );
    const seen = cp
      .kc(['exec', from.name, '--', 'sh', '-c', `echo | nc -w 5 ${INTERNET_SERVER} ${WHOAMI_PORT}`])
      .trim();
    const primary = m.nodes.find((x) => x.name === n)?.primaryAddress;
    say(
      `  ${from.name} → internet ${INTERNET_SERVER}:${WHOAMI_PORT}: seen as ${seen || '(no answer)'} (${n}'s primary ${primary}: ${seen === primary ? 'SNAT' : 'NOT SNATed'})`,
    );
    if (seen !== primary) failed++;
  }
  say(
    `summary: ${pods.length} pods on ${nodes.length} nodes, every one with a VPC address; ${failed ? `${failed} checks failed` : 'all traffic checks passed'}; ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { code: failed ? 1 : 0, lab };
}
