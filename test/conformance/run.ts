// Kubernetes' own e2e networking checks against Tidepool on real kubelets: `npm run conformance`.
// 1. `tidepoolctl lab up --kubernetes --nodes 2` (the cluster lab: a control plane in the lab's vpc
//    namespace, a containerd and a kubelet on each node, Tidepool's chart as the CNI);
// 2. imports the agnhost image (images/agnhost/build.ts, under its upstream name) into every node and gives
//    the sandbox image the name the framework expects (registry.k8s.io/pause:3.10.2): no registry anywhere;
// 3. runs the v1.37.2 e2e.test (scripts/k8s/build-e2e.sh) inside the vpc namespace with the focus
//    `[sig-network] Networking Granular Checks: Pods` minus SCTP: pod-to-pod (both same node and across
//    nodes: the framework puts a netserver on each node and dials every one) and node-to-pod, over HTTP and
//    UDP, 4 specs;
// 4. prints `passed N failed M`, writes the JUnit report (and ginkgo's JSON) to the report directory;
// 5. `lab down`, also when something failed (unless --keep).
// Usage: npm run conformance -- [--prefix tc-conf-] [--report-dir DIR] [--focus REGEX] [--skip REGEX] [--keep]
// Exit status 0 only when every focused spec passed and at least one ran.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGNHOST_IMAGE, buildAgnhostImage } from '../../images/agnhost/build.js';
import { ClusterLab, K8S_BIN } from '../helpers/cluster-lab.js';
import { ROOT } from '../helpers/lab.js';

export const FOCUS = 'Networking Granular Checks: Pods';
export const SKIP = 'sctp';
/** v1.37.2's test/utils/image/manifest.go. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';
export const E2E_TEST = join(K8S_BIN, 'e2e.test');

export interface SpecResult {
  name: string;
  state: string;
  seconds: number;
  failure?: string;
}

export interface ConformanceResult {
  passed: number;
  failed: number;
  /** Specs that ran (passed or not), by name. */
  specs: SpecResult[];
  junit: string;
  json: string;
  log: string;
  exitCode: number;
  /** Seconds for each phase: up, images, e2e, down. */
  timings: Record<string, number>;
}

export interface ConformanceOptions {
  prefix?: string;
  reportDir?: string;
  focus?: string;
  skip?: string;
  keep?: boolean;
  nodes?: number;
  log?: (msg: string) => void;
}

/** Ginkgo's JSON report: the specs that ran (It nodes, not the suite's setup nodes). */
export function specsFromGinkgoJson(file: string): SpecResult[] {
  const suites = JSON.parse(readFileSync(file, 'utf8')) as {
    SpecReports?: {
      LeafNodeType: string;
      LeafNodeText: string;
      ContainerHierarchyTexts?: string[];
      State: string;
      RunTime: number;
      Failure?: { Message?: string };
    }[];
  }[];
  return suites
    .flatMap((s) => s.SpecReports ?? [])
    .filter((r) => r.LeafNodeType === 'It' && r.State !== 'skipped' && r.State !== 'pending')
    .map((r) => ({
      name: [...(r.ContainerHierarchyTexts ?? []), r.LeafNodeText].join(' '),
      state: r.State,
      seconds: Math.round(r.RunTime / 1e7) / 100,
      ...(r.Failure?.Message ? { failure: r.Failure.Message.slice(0, 2000) } : {}),
    }));
}

/** The JUnit report e2e.test writes into --report-dir (junit_01.xml). */
function junitIn(dir: string): string {
  const f = readdirSync(dir).find((n) => /^junit.*\.xml$/.test(n));
  if (!f) throw new Error(`e2e.test wrote no JUnit report into ${dir}`);
  return join(dir, f);
}

export async function runConformance(o: ConformanceOptions = {}): Promise<ConformanceResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`[conformance] ${m}\n`));
  if (!existsSync(E2E_TEST))
    throw new Error(`${E2E_TEST} is missing: run scripts/setup.sh (scripts/k8s/build-e2e.sh)`);
  const reportDir = resolve(o.reportDir ?? join(ROOT, '.cache/conformance'));
  rmSync(reportDir, { recursive: true, force: true });
  mkdirSync(reportDir, { recursive: true });
  const cluster = new ClusterLab(o.prefix ?? 'tc-conf-');
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((Date.now() - t) / 100) / 10;
      log(`${name}: ${timings[name]} s`);
    }
  };
  const agnhost = buildAgnhostImage();
  log(`agnhost image ${agnhost.digest} (${agnhost.archive})`);
  const e2eLog = join(reportDir, 'e2e.log');
  try {
    await phase('up', async () => {
      log(`lab up --kubernetes --nodes ${o.nodes ?? 2} --prefix ${cluster.prefix}`);
      await cluster.up(o.nodes ?? 2);
    });
    await phase('images', async () => {
      await cluster.importImage(agnhost.archive);
      const node = cluster.nodes()[0];
      const pause = (await cluster.images(node)).find((i) => /pause/.test(i) && i !== PAUSE_IMAGE);
      if (!pause) throw new Error(`${node.name} has no sandbox image to name ${PAUSE_IMAGE}`);
      await cluster.tagImage(pause, PAUSE_IMAGE);
      for (const n of cluster.nodes()) {
        const have = await cluster.images(n);
        for (const want of [AGNHOST_IMAGE, PAUSE_IMAGE])
          if (!have.includes(want)) throw new Error(`${n.name} lacks ${want} after the import`);
      }
    });
    const code = await phase('e2e', async () => {
      const argv = [
        E2E_TEST,
        `--kubeconfig=${cluster.kubeconfig}`,
        '--provider=skeleton',
        `--kubectl-path=${join(K8S_BIN, 'kubectl')}`,
        `--ginkgo.focus=${o.focus ?? FOCUS}`,
        `--ginkgo.skip=${o.skip ?? SKIP}`,
        '--ginkgo.v',
        '--ginkgo.no-color',
        '--ginkgo.timeout=30m',
        `--ginkgo.json-report=${join(reportDir, 'ginkgo.json')}`,
        `--report-dir=${reportDir}`,
        '--disable-log-dump',
        '--allowed-not-ready-nodes=0',
        '--minStartupPods=0',
        '--node-os-distro=debian',
      ];
      log(`e2e.test --ginkgo.focus='${o.focus ?? FOCUS}' --ginkgo.skip='${o.skip ?? SKIP}' (log: ${e2eLog})`);
      // e2e.test (its kubectl calls) leaves test-kuberc* folders in TMPDIR: keep them in the lab's state
      // directory, which lab down removes.
      const tmp = join(cluster.stateDir, 'e2e-tmp');
      mkdirSync(tmp, { recursive: true });
      return cluster.spawnInVpc(argv, e2eLog, { HOME: reportDir, TMPDIR: tmp });
    });
    const specs = specsFromGinkgoJson(join(reportDir, 'ginkgo.json'));
    const passed = specs.filter((s) => s.state === 'passed').length;
    const failed = specs.length - passed;
    for (const s of specs) log(`${s.state.padEnd(7)} ${s.seconds.toFixed(1).padStart(5)} s  ${s.name}`);
    return {
      passed,
      failed,
      specs,
      junit: junitIn(reportDir),
      json: join(reportDir, 'ginkgo.json'),
      log: e2eLog,
      exitCode: code,
      timings,
    };
  } finally {
    if (o.keep) log(`--keep: the cluster stays up (tidepoolctl lab down --prefix ${cluster.prefix})`);
    else
      await phase('down', async () => {
        const r = await cluster.down();
        if (r.code !== 0) log(`lab down failed (exit ${r.code}): ${r.stderr.slice(-3000)}`);
      });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const valued = ['--prefix', '--report-dir', '--focus', '--skip'];
  for (let i = 0; i < args.length; i++) {
    if (valued.includes(args[i]) && args[i + 1] !== undefined && !args[i + 1].startsWith('--')) i++;
    else if (args[i] !== '--keep') {
      console.error(
        `conformance: ${valued.includes(args[i]) ? `${args[i]} needs a value` : `unknown option ${args[i]}`}; ` +
          'usage: npm run conformance -- [--prefix P] [--report-dir DIR] [--focus REGEX] [--skip REGEX] [--keep]',
      );
      process.exit(2);
    }
  }
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  runConformance({
    prefix: arg('--prefix'),
    reportDir: arg('--report-dir'),
    focus: arg('--focus'),
    skip: arg('--skip'),
    keep: args.includes('--keep'),
  }).then(
    (r) => {
      console.log(`passed ${r.passed} failed ${r.failed}`);
      console.log(`junit ${r.junit}`);
      console.log(
        `timings ${Object.entries(r.timings)
          .map(([k, v]) => `${k} ${v} s`)
          .join(', ')}`,
      );
      process.exit(r.failed === 0 && r.passed > 0 && r.exitCode === 0 ? 0 : 1);
    },
    (err: Error) => {
      console.error(`conformance: ${err.message}`);
      process.exit(2);
    },
  );
}
