// npm run bench -- cni: the plugin's cost per pod on a warm pool, next to its floors, for each build of it:
//   sea      dist/bin/tidepool, the shipped plugin: a self-contained executable (Node SEA), run with no node on PATH
//   script   dist/lib/tidepool-plugin.js, the same bundle as a script run by the pinned node on PATH
//   noaddon  the SEA with TIDEPOOL_PLUGIN_NO_ADDON=1: `ip` processes instead of the rtnetlink addon (its cost)
//   before   CNI_BENCH_BEFORE=<path>: another build of the plugin, e.g. main's dist/bin/tidepool, for a before/after
//            in one run (CNI_BENCH_VARIANTS=sea,before,... picks and orders them)
// BENCH lines carry the SEA's figures under the names of earlier runs, the others with the variant in the name
// (cni_<variant>_add_p50 ...):
//   cni_add_p50 / cni_add_p99 / cni_del_p50   wall ms of 50 sequential ADDs (each followed by its DEL) in a pod netns
//   cni_add_cpu                               mean CPU ms (user + system, the plugin and its ip processes) per ADD
//   cni_add_concurrent30_p99                  wall ms of the slowest of 30 ADDs started at once (median of 3 rounds)
//   node_start_p50 / node_start_concurrent30_p99   `node -e 0` alone and 30 at once: the floor of any Node plugin,
//                                             measured interleaved with the plugin runs (the machine is shared)
// "At once" is one instant (test/bench/lib/at-once.py): every process is forked first and waits on a barrier,
// then all exec together, each timed from that instant to its exit. For the same footing, `node -e 0` runs as
// the plugin does, alone and at once: through nsenter, in the bench's host namespace.
//   ptp_add_p50                               Debian's ptp + host-local doing the same work (veth, /32-ish address, routes)
// The real daemon (tidepool-ipamd on the sim provider, WARM/MINIMUM_IP_TARGET 64, no cooldown) and every
// plugin run inside a host namespace of the bench; nothing touches the root namespace. Targets (printed, not
// enforced): cni_add_p50 <= node_start_p50 + 50 ms; cni_add_concurrent30_p99 <= 1.5 x node_start_concurrent30_p99.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathWithoutNode } from '../../lab/plugin.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { Netns } from '../helpers/netns.js';
import { atOnce, type AtOnceResult } from './lib/at-once.js';

const SEQUENTIAL = Number(process.env.CNI_BENCH_N ?? 50);
const CONCURRENT = 30;
const ROUNDS = Number(process.env.CNI_BENCH_ROUNDS ?? 3);

/** PATH with no `node` on it (lab/plugin.ts): the SEA runs as on a host without Node.js. */
const NO_NODE_PATH = pathWithoutNode();

interface Variant {
  name: string;
  /** The built file, copied into the bench's bin directory as a runtime installs it. */
  built: string;
  PATH: string;
  extraEnv?: Record<string, string>;
}

function variants(): Variant[] {
  const all: Record<string, Variant> = {
    sea: { name: 'sea', built: resolve('dist/bin/tidepool'), PATH: NO_NODE_PATH },
    script: { name: 'script', built: resolve('dist/lib/tidepool-plugin.js'), PATH: process.env.PATH ?? '' },
    noaddon: {
      name: 'noaddon',
      built: resolve('dist/bin/tidepool'),
      PATH: NO_NODE_PATH,
      extraEnv: { TIDEPOOL_PLUGIN_NO_ADDON: '1' },
    },
  };
  if (process.env.CNI_BENCH_BEFORE)
    all.before = {
      name: 'before',
      built: resolve(process.env.CNI_BENCH_BEFORE),
      PATH: process.env.PATH ?? '',
    };
  const names = (process.env.CNI_BENCH_VARIANTS ?? Object.keys(all).join(',')).split(',');
  return names.map((n) => {
    if (!all[n]) throw new Error(`cni bench: unknown variant ${n} (CNI_BENCH_BEFORE set for "before"?)`);
    if (!existsSync(all[n].built)) throw new Error(`cni bench: ${all[n].built} is missing (npm run build)`);
    return all[n];
  });
}

interface Run {
  /** performance.now() when the child was spawned. */
  started: number;
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv (inside `netns` through nsenter, which execs: no extra process) and times it. */
function timed(argv: string[], env: NodeJS.ProcessEnv, stdin: string, netns?: string): Promise<Run> {
  const full = netns ? ['nsenter', `--net=${netns}`, ...argv] : argv;
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(full[0], full.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) =>
      done({ started, ms: performance.now() - started, code: code ?? -1, stdout, stderr }),
    );
    child.stdin.end(stdin);
  });
}

/** CPU time of reaped children (cutime + cstime of /proc/self/stat), ms. */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const bench = (name: string, value: number, unit = 'ms') =>
  console.log(`BENCH ${name} ${value.toFixed(1)} ${unit}`);

function must<R extends { code: number; stdout: string; stderr: string }>(r: R, what: string): R {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout} ${r.stderr}`);
  return r;
}

interface Figures {
  adds: number[];
  dels: number[];
  cpu: number;
  conc: number[];
  cpuAtOnce: AtOnceResult[];
  seqPhases: Record<string, number>[];
  concPhases: Record<string, number>[];
  daemonCpu: number;
}

const readPhases = (file: string, from = 0) =>
  readFileSync(file, 'utf8')
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('"ms":'))
    .map((l) => JSON.parse(l).ms as Record<string, number>);

async function main(): Promise<void> {
  const vs = variants();
  const host = Netns.create('cni');
  const pods: Netns[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tp-cni-bench-'));
  let daemon: CniDaemon | null = null;
  try {
    host.sh('sysctl -qw net.ipv4.ip_forward=1');
    // Each build as the daemon installs it: a copy in a bin directory outside this package (no package.json
    // around it, so Node loads a script as CommonJS; see cni/build-options.mjs).
    mkdirSync(join(dir, 'bin'));
    const plugin = (v: Variant) => join(dir, 'bin', `tidepool-${v.name}`);
    for (const v of vs) copyFileSync(v.built, plugin(v));
    daemon = await startCniDaemon(host, {
      instanceType: 'm5.4xlarge',
      env: { WARM_IP_TARGET: '64', MINIMUM_IP_TARGET: '64', IP_COOLDOWN_PERIOD: '0' },
    });
    // The pool is warm when it holds its 64 free addresses and has not changed for a second.
    const settle = async () => {
      let last = '';
      for (let i = 0, same = 0; i < 300 && same < 10; i++) {
        const pool = JSON.parse(
          (await host.exec(['curl', '-s', `${daemon!.node.daemon.introspectionUrl}/v1/pool`])).stdout,
        );
        const now = `${pool.free}/${pool.total}/${pool.parked}`;
        same = pool.free >= 64 && now === last ? same + 1 : 0;
        last = now;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    for (let i = 0; i < Math.max(SEQUENTIAL, CONCURRENT); i++) pods.push(Netns.create('cni'));
    await settle();

    const logOf = (v: Variant) => join(dir, `plugin-${v.name}.log`);
    const conf = (v: Variant) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'tidepool',
        type: 'tidepool',
        socket: daemon!.socket,
        logFile: logOf(v),
      });
    const env = (v: Variant, cmd: string, i: number, pod: Netns): NodeJS.ProcessEnv => ({
      PATH: v.PATH,
      ...v.extraEnv,
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `bench-${v.name}-${i}`,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-${v.name}-${i}`,
      CNI_PATH: '/usr/lib/cni',
    });
    const run = (v: Variant, cmd: string, i: number, pod: Netns) =>
      timed([plugin(v)], env(v, cmd, i, pod), conf(v), host.path);

    // One ADD and DEL of each build first: a script form leaves its code cache, the SEA its addon.
    for (const v of vs) {
      must(await run(v, 'ADD', 99999, pods[0]), `${v.name} warm-up ADD`);
      must(await run(v, 'DEL', 99999, pods[0]), `${v.name} warm-up DEL`);
    }
    const fig = new Map<string, Figures>(
      vs.map((v) => [
        v.name,
        { adds: [], dels: [], cpu: 0, conc: [], cpuAtOnce: [], seqPhases: [], concPhases: [], daemonCpu: 0 },
      ]),
    );
    const logStart = new Map(vs.map((v) => [v.name, readFileSync(logOf(v), 'utf8').length]));

    // Floors and plugin runs are interleaved (node, then each build's ADD and DEL in pod i; then rounds of
    // 30 node / 30 ADD of each build), so that all see the same load: this machine is shared, and its load
    // moves by the minute. Each ADD is followed by its DEL, so every build finds the same warm pool.
    const nodeRun = () => timed([process.execPath, '-e', '0'], { PATH: process.env.PATH }, '', host.path);
    const nodeSeq: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      nodeSeq.push(must(await nodeRun(), 'node').ms);
      for (const v of vs) {
        const f = fig.get(v.name)!;
        const cpu0 = childrenCpuMs();
        f.adds.push(must(await run(v, 'ADD', i, pods[i]), `${v.name} ADD ${i}`).ms);
        f.cpu += (childrenCpuMs() - cpu0) / SEQUENTIAL;
        f.dels.push(must(await run(v, 'DEL', i, pods[i]), `${v.name} DEL ${i}`).ms);
      }
    }
    for (const v of vs) {
      fig.get(v.name)!.seqPhases = readPhases(logOf(v), logStart.get(v.name));
      logStart.set(v.name, readFileSync(logOf(v), 'utf8').length);
    }

    // 30 at once, on a settled pool: ROUNDS rounds of (30 node, then 30 ADD and 30 DEL of each build); the
    // median round counts.
    const nodeRounds: number[] = [];
    // CPU (user + system) of each process started at once: with 30 at once the two cores are saturated, so
    // the round's wall time follows the CPU of the whole round.
    const nodeCpuAtOnce: AtOnceResult[] = [];
    const inHost = (argv: string[]) => ['nsenter', `--net=${host.path}`, ...argv];
    for (let round = 0; round < ROUNDS; round++) {
      await settle();
      const nodes = await atOnce(
        Array.from({ length: CONCURRENT }, () => ({
          argv: inHost([process.execPath, '-e', '0']),
          env: { PATH: process.env.PATH },
        })),
      );
      nodeRounds.push(
        pct(
          nodes.map((r) => must(r, 'node').ms),
          99,
        ),
      );
      nodeCpuAtOnce.push(...nodes);
      for (const v of vs) {
        await settle();
        const f = fig.get(v.name)!;
        const daemonCpu0 = daemon.node.daemon.cpuMs();
        const id = (i: number) => 1000 * (round + 1) + i;
        const addRuns = await atOnce(
          pods.slice(0, CONCURRENT).map((p, i) => ({
            argv: inHost([plugin(v)]),
            env: env(v, 'ADD', id(i), p),
            stdin: conf(v),
          })),
        );
        f.conc.push(
          pct(
            addRuns.map((r, i) => must(r, `${v.name} concurrent ADD ${i}`).ms),
            99,
          ),
        );
        f.cpuAtOnce.push(...addRuns);
        f.daemonCpu += (daemon.node.daemon.cpuMs() - daemonCpu0) / CONCURRENT / ROUNDS;
        f.concPhases.push(...readPhases(logOf(v), logStart.get(v.name)));
        for (let i = 0; i < CONCURRENT; i++) must(await run(v, 'DEL', id(i), pods[i]), `${v.name} DEL`);
        logStart.set(v.name, readFileSync(logOf(v), 'utf8').length);
      }
    }

    // Debian's ptp + host-local, the same sequence of pods.
    const ptpConf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'ptp-bench',
      type: 'ptp',
      ipMasq: false,
      mtu: 9001,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/16' }]], dataDir: join(dir, 'host-local') },
    });
    const ptpEnv = (cmd: string, i: number, pod: Netns): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `bench-ptp-${i}`,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
    });
    const ptp: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++)
      ptp.push(
        must(await timed(['/usr/lib/cni/ptp'], ptpEnv('ADD', i, pods[i]), ptpConf, host.path), `ptp ADD ${i}`)
          .ms,
      );
    for (let i = 0; i < SEQUENTIAL; i++)
      must(await timed(['/usr/lib/cni/ptp'], ptpEnv('DEL', i, pods[i]), ptpConf, host.path), 'ptp DEL');

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cpu = (rs: AtOnceResult[]) => mean(rs.map((r) => r.userMs + r.sysMs));
    const split = (rs: AtOnceResult[]) =>
      `${cpu(rs).toFixed(1)} (user ${mean(rs.map((r) => r.userMs)).toFixed(1)}, system ${mean(rs.map((r) => r.sysMs)).toFixed(1)})`;
    const phase = (ps: Record<string, number>[], k: string) =>
      `${k} ${pct(
        ps.map((m) => m[k]).filter((x) => x !== undefined),
        50,
      )}`;
    const PHASES = ['startup', 'allocate', 'podSide', 'hostSide'];
    const nodeP50 = pct(nodeSeq, 50);
    const nodeConc = pct(nodeRounds, 50);
    bench('node_start_p50', nodeP50);
    bench('node_start_concurrent30_p99', nodeConc);
    bench('ptp_add_p50', pct(ptp, 50));
    console.log(`# CPU per node -e 0 started at once (ms, mean): ${split(nodeCpuAtOnce)}`);
    console.log(`# concurrent rounds (ms, p99 of 30): node ${nodeRounds.map((x) => x.toFixed(0)).join(' ')}`);
    for (const v of vs) {
      const f = fig.get(v.name)!;
      const n = (k: string) => (v.name === 'sea' ? `cni_${k}` : `cni_${v.name}_${k}`);
      const p50 = pct(f.adds, 50);
      const conc = pct(f.conc, 50);
      console.log(`# ${v.name} (${v.built}${v.extraEnv ? ', ' + JSON.stringify(v.extraEnv) : ''}):`);
      console.log(`#   sequential ADDs, p50 ms: ${PHASES.map((k) => phase(f.seqPhases, k)).join(', ')}`);
      console.log(
        `#   concurrent ADDs, p50 ms: ${PHASES.map((k) => phase(f.concPhases, k)).join(', ')}; daemon CPU per ADD ${f.daemonCpu.toFixed(1)} ms`,
      );
      console.log(`#   concurrent rounds (ms, p99 of 30): ${f.conc.map((x) => x.toFixed(0)).join(' ')}`);
      console.log(
        `#   CPU per ADD started at once (ms, mean): ${split(f.cpuAtOnce)}, ${(cpu(f.cpuAtOnce) / cpu(nodeCpuAtOnce)).toFixed(2)}× node`,
      );
      bench(n('add_p50'), p50);
      bench(n('add_p99'), pct(f.adds, 99));
      bench(n('del_p50'), pct(f.dels, 50));
      bench(n('add_cpu'), f.cpu);
      bench(n('add_concurrent30_p99'), conc);
      console.log(
        `#   ${n('add_p50')} - node_start_p50 = ${(p50 - nodeP50).toFixed(1)} ms (target <= 50); ` +
          `concurrent30 ratio = ${(conc / nodeConc).toFixed(2)} (target <= 1.5); ` +
          `/ ptp_add_p50 = ${(p50 / pct(ptp, 50)).toFixed(2)}`,
      );
    }
  } finally {
    await daemon?.cleanup();
    for (const p of pods) await p.cleanup();
    await host.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
