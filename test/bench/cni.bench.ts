// npm run bench -- cni: the plugin's cost per pod on a warm pool, next to its floors.
//   cni_add_p50 / cni_add_p99 / cni_del_p50   wall ms of 50 sequential ADDs (then DELs), each in a new pod netns
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
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { Netns } from '../helpers/netns.js';
import { atOnce, type AtOnceResult } from './lib/at-once.js';

const BUILT = resolve('dist/bin/tidepool');
const SEQUENTIAL = Number(process.env.CNI_BENCH_N ?? 50);
const CONCURRENT = 30;
const ROUNDS = Number(process.env.CNI_BENCH_ROUNDS ?? 3);

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

async function main(): Promise<void> {
  const host = Netns.create('cni');
  const pods: Netns[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tp-cni-bench-'));
  let daemon: CniDaemon | null = null;
  try {
    host.sh('sysctl -qw net.ipv4.ip_forward=1');
    // The plugin as the daemon installs it: a copy in a bin directory outside this package (no package.json
    // around it, so Node loads it as a CommonJS script; see cni/build-options.mjs).
    const PLUGIN = join(dir, 'bin', 'tidepool');
    mkdirSync(join(dir, 'bin'));
    copyFileSync(BUILT, PLUGIN);
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

    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tidepool',
      type: 'tidepool',
      socket: daemon.socket,
      logFile: join(dir, 'plugin.log'),
    });
    const env = (cmd: string, i: number, pod: Netns): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `bench-${i}`,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod-${i}`,
      CNI_PATH: '/usr/lib/cni',
    });

    // Floors and plugin runs are interleaved (node, ADD, node, ADD, …; then rounds of 30 node / 30 ADD), so
    // that both see the same load: this machine is shared, and its load moves by the minute.
    const nodeRun = () => timed([process.execPath, '-e', '0'], { PATH: process.env.PATH }, '', host.path);
    const nodeSeq: number[] = [];
    const adds: number[] = [];
    let addCpu = 0;
    for (let i = 0; i < SEQUENTIAL; i++) {
      nodeSeq.push(must(await nodeRun(), 'node').ms);
      const cpu0 = childrenCpuMs();
      adds.push(must(await timed([PLUGIN], env('ADD', i, pods[i]), conf, host.path), `ADD ${i}`).ms);
      addCpu += childrenCpuMs() - cpu0;
    }
    const cpuPerAdd = addCpu / SEQUENTIAL;
    const seqPhases = readFileSync(join(dir, 'plugin.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"ms":'))
      .map((l) => JSON.parse(l).ms as Record<string, number>);
    const dels: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++)
      dels.push(must(await timed([PLUGIN], env('DEL', i, pods[i]), conf, host.path), `DEL ${i}`).ms);

    // 30 at once, on a settled pool: ROUNDS rounds of (30 node, 30 ADD, 30 DEL); the median round counts.
    const nodeRounds: number[] = [];
    const concRounds: number[] = [];
    // CPU (user + system) of each process started at once: with 30 at once the two cores are saturated, so
    // the round's wall time follows the CPU of the whole round.
    const nodeCpuAtOnce: AtOnceResult[] = [];
    const addCpuAtOnce: AtOnceResult[] = [];
    let phases: Record<string, number>[] = [];
    let daemonCpu = 0;
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
      const logStart = readFileSync(join(dir, 'plugin.log'), 'utf8').length;
      const daemonCpu0 = daemon.node.daemon.cpuMs();
      const id = (i: number) => 1000 * (round + 1) + i;
      const addRuns = await atOnce(
        pods
          .slice(0, CONCURRENT)
          .map((p, i) => ({ argv: inHost([PLUGIN]), env: env('ADD', id(i), p), stdin: conf })),
      );
      const conc = addRuns.map((r, i) => must(r, `concurrent ADD ${i}`).ms);
      addCpuAtOnce.push(...addRuns);
      concRounds.push(pct(conc, 99));
      daemonCpu += (daemon.node.daemon.cpuMs() - daemonCpu0) / CONCURRENT / ROUNDS;
      phases = phases.concat(
        readFileSync(join(dir, 'plugin.log'), 'utf8')
          .slice(logStart)
          .split('\n')
          .filter((l) => l.includes('"ms":'))
          .map((l) => JSON.parse(l).ms as Record<string, number>),
      );
      for (let i = 0; i < CONCURRENT; i++)
        must(await timed([PLUGIN], env('DEL', id(i), pods[i]), conf, host.path), 'DEL');
    }
    const nodeConc = [pct(nodeRounds, 50)];
    const conc = [pct(concRounds, 50)];

    // For comparison, one more round of each started the way this bench used to: through Node's spawn, which
    // forks the bench's own process for every child, so the 30 starts spread over a ramp (`ramp` ms).
    await settle();
    const spawned = async (runs: (() => Promise<Run>)[]) => {
      const rs = await Promise.all(runs.map((r) => r()));
      rs.forEach((r) => must(r, 'spawned'));
      const starts = rs.map((r) => r.started);
      return {
        p99: pct(
          rs.map((r) => r.ms),
          99,
        ),
        ramp: Math.max(...starts) - Math.min(...starts),
      };
    };
    const viaSpawn = {
      node: await spawned(
        Array.from(
          { length: CONCURRENT },
          () => () => timed([process.execPath, '-e', '0'], { PATH: process.env.PATH }, '', host.path),
        ),
      ),
      add: await spawned(
        pods
          .slice(0, CONCURRENT)
          .map((p, i) => () => timed([PLUGIN], env('ADD', 9000 + i, p), conf, host.path)),
      ),
    };
    for (let i = 0; i < CONCURRENT; i++)
      must(await timed([PLUGIN], env('DEL', 9000 + i, pods[i]), conf, host.path), 'DEL');

    // Debian's ptp + host-local, the same sequence of pods.
    const ptpConf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'ptp-bench',
      type: 'ptp',
      ipMasq: false,
      mtu: 9001,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/16' }]], dataDir: join(dir, 'host-local') },
    });
    const ptp: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++)
      ptp.push(
        must(
          await timed(['/usr/lib/cni/ptp'], env('ADD', 2000 + i, pods[i]), ptpConf, host.path),
          `ptp ADD ${i}`,
        ).ms,
      );
    for (let i = 0; i < SEQUENTIAL; i++)
      must(await timed(['/usr/lib/cni/ptp'], env('DEL', 2000 + i, pods[i]), ptpConf, host.path), 'ptp DEL');

    const phase = (k: string) =>
      `${k} p50 ${pct(
        phases.map((m) => m[k]),
        50,
      )} max ${Math.max(...phases.map((m) => m[k]))}`;
    const seqPhase = (k: string) =>
      `${k} ${pct(
        seqPhases.map((m) => m[k]),
        50,
      )}`;
    console.log(
      `# sequential ADDs, p50 ms: ${['startup', 'allocate', 'podSide', 'hostSide'].map(seqPhase).join(', ')}`,
    );
    console.log(
      `# concurrent ADDs, ms: ${['startup', 'allocate', 'podSide', 'hostSide'].map(phase).join(', ')}; daemon CPU per ADD ${daemonCpu.toFixed(1)} ms`,
    );
    bench('node_start_p50', pct(nodeSeq, 50));
    bench('node_start_concurrent30_p99', pct(nodeConc, 99));
    bench('cni_add_p50', pct(adds, 50));
    bench('cni_add_p99', pct(adds, 99));
    bench('cni_del_p50', pct(dels, 50));
    bench('cni_add_cpu', cpuPerAdd);
    bench('cni_add_concurrent30_p99', pct(conc, 99));
    bench('ptp_add_p50', pct(ptp, 50));
    console.log(
      `# concurrent rounds (ms, p99 of 30): node ${nodeRounds.map((x) => x.toFixed(0)).join(' ')}; tidepool ${concRounds.map((x) => x.toFixed(0)).join(' ')}`,
    );
    console.log(
      `# the same 30 started through Node's spawn instead (the bench's method until 2026-11-28; starts spread ` +
        `over ${viaSpawn.node.ramp.toFixed(0)} / ${viaSpawn.add.ramp.toFixed(0)} ms): node ${viaSpawn.node.p99.toFixed(0)}, ` +
        `tidepool ${viaSpawn.add.p99.toFixed(0)}, ratio ${(viaSpawn.add.p99 / viaSpawn.node.p99).toFixed(2)}`,
    );
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cpu = (rs: AtOnceResult[]) => mean(rs.map((r) => r.userMs + r.sysMs));
    const split = (rs: AtOnceResult[]) =>
      `${cpu(rs).toFixed(1)} (user ${mean(rs.map((r) => r.userMs)).toFixed(1)}, system ${mean(rs.map((r) => r.sysMs)).toFixed(1)})`;
    console.log(
      `# CPU per process started at once (ms, mean): node ${split(nodeCpuAtOnce)}, tidepool ADD ${split(addCpuAtOnce)}, ` +
        `${(cpu(addCpuAtOnce) / cpu(nodeCpuAtOnce)).toFixed(2)}× node; the daemon's per ADD ${daemonCpu.toFixed(1)}`,
    );

    const p50 = pct(adds, 50);
    console.log(
      `# cni_add_p50 - node_start_p50 = ${(p50 - pct(nodeSeq, 50)).toFixed(1)} ms (target <= 50); ` +
        `concurrent30 ratio = ${(pct(conc, 99) / pct(nodeConc, 99)).toFixed(2)} (target <= 1.5); ` +
        `cni_add_p50 / ptp_add_p50 = ${(p50 / pct(ptp, 50)).toFixed(2)}`,
    );
  } finally {
    await daemon?.cleanup();
    for (const p of pods) await p.cleanup();
    await host.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
