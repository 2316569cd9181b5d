// Starts real processes for integration tests and benchmarks: the sim cloud server (dist/bin/tidepool-sim)
// and the node daemon (dist/bin/tidepool-ipamd) in a temporary directory, with free loopback ports and
// TIDEPOOL_MANAGE_HOST_NETWORK=false (no change to any network namespace). Every process runs in its own
// process group and is killed, and every directory removed, by cleanup() — call it in afterAll/finally.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimAdminClient } from '../../providers/sim/client.js';
import type { InterfaceView } from '../../providers/sim/model.js';
import { IpamClient } from './ipam-client.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = {
  daemon: join(ROOT, 'dist/bin/tidepool-ipamd'),
  sim: join(ROOT, 'dist/bin/tidepool-sim'),
  ctl: join(ROOT, 'dist/bin/tidepoolctl'),
};

function requireBuilt(path: string): string {
  if (!existsSync(path))
    throw new Error(`${path} is missing: run \`npm run build\` (or node scripts/build.mjs) first`);
  return path;
}

/** Ports handed out by this process, never handed out twice. */
const handedOut = new Set<number>();

/**
 * A loopback port free now, for a server a test starts next. Taken below the kernel's ephemeral range
 * (32768-60999): a port from that range (what listen(0) gives) can meanwhile become the local end of some
 * process's outgoing connection (an apiserver's to etcd, in the namespace the daemon binds in), and the
 * server's bind then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const [low, high] = [20_000, 32_000];
  let port = low + Math.floor(Math.random() * (high - low));
  for (let tries = 0; tries < high - low; tries++, port = port + 1 >= high ? low : port + 1) {
    if (handedOut.has(port)) continue;
    const srv = createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '127.0.0.1', () => r(true));
    });
    if (!ok) continue;
    await new Promise<void>((r) => srv.close(() => r()));
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free loopback port in ${low}-${high}`);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process in its own process group, with its output appended to a log file. */
export class Proc {
  readonly exited: Promise<Exit>;
  private exitInfo: Exit | null = null;

  constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    // A process that could not start (ENOENT: the bundle not built) emits 'error' and never 'exit': it
    // counts as exited too, or a test's cleanup would wait for it forever and leave its files behind.
    this.exited = new Promise((resolve) => {
      const done = (e: Exit) => {
        this.exitInfo ??= e;
        resolve(this.exitInfo);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      child.once('error', () => {
        if (child.pid === undefined) done({ code: null, signal: null });
      });
    });
  }

  static spawn(
    bin: string,
    args: string[],
    env: Record<string, string>,
    logFile: string,
    nodeArgs: string[] = [],
  ): Proc {
    // Executed as an operator runs it (its shebang line carries the daemon's node options), unless the test
    // passes options of its own to node (e.g. --cpu-prof).
    const command = nodeArgs.length ? [process.execPath, ...nodeArgs, bin, ...args] : [bin, ...args];
    return Proc.run(command, env, logFile);
  }

  /** Runs a command line (e.g. ['ip', 'netns', 'exec', NS, bin]) in its own process group. */
  static run(command: string[], env: Record<string, string>, logFile: string): Proc {
    const fd = openSync(logFile, 'a');
    const [cmd, ...argv] = command;
    const child = spawn(cmd, argv, {
      env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    return new Proc(child, logFile);
  }

  get pid(): number {
    return this.child.pid!;
  }
  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** Signals the whole process group (the process and anything it started). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.alive) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  async stop(graceMs = 5000): Promise<Exit> {
    if (!this.alive) return this.exitInfo!;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  proc?: Proc,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (proc && !proc.alive)
      throw new Error(
        `${what}: the process exited (${JSON.stringify(await proc.exited)})\n${proc.log().slice(-3000)}`,
      );
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms (${String(last ?? '')})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface SimOptions {
  /** Extra arguments of tidepool-sim (e.g. ['--latency', 'realistic', '--latency-scale', '0.1']). */
  args?: string[];
}

export class SimProcess {
  readonly admin: SimAdminClient;
  proc!: Proc;

  constructor(
    readonly dir: string,
    readonly socket: string,
    readonly statePath: string,
    private readonly args: string[],
  ) {
    this.admin = new SimAdminClient(socket);
  }

  async start(): Promise<void> {
    this.proc = Proc.spawn(
      requireBuilt(BIN.sim),
      ['--socket', this.socket, '--state', this.statePath, ...this.args],
      { PATH: process.env.PATH ?? '' },
      join(this.dir, 'sim.log'),
    );
    await until('sim server answering', async () => (await this.admin.health(), true), 15_000, this.proc);
  }

  /** The interfaces the cloud has attached to an instance, as the cloud sees them now. */
  async interfacesOf(instanceId: string): Promise<InterfaceView[]> {
    const state = await this.admin.state();
    return state.interfaces.filter((i) => i.attachment?.instanceId === instanceId);
  }
}

export interface DaemonOptions {
  /** Extra environment (pool settings and the like); the daemon's paths and ports are set by the helper. */
  env?: Record<string, string>;
  instanceId?: string;
  instanceType?: string;
  /** Options of node itself for the daemon (e.g. ['--cpu-prof'] to profile it). */
  nodeArgs?: string[];
  /** Another build of the daemon (a benchmark's baseline); dist/bin/tidepool-ipamd when absent. */
  daemonBin?: string;
}

export class DaemonProcess {
  readonly socket: string;
  readonly stateDir: string;
  readonly env: Record<string, string>;
  proc!: Proc;
  introspectionUrl = '';
  nodeArgs: string[] = [];
  metricsUrl = '';
  starts = 0;

  constructor(
    readonly dir: string,
    readonly sim: SimProcess,
    readonly instanceId: string,
    env: Record<string, string>,
  ) {
    this.socket = join(dir, 'run', 'ipamd.sock');
    this.stateDir = join(dir, 'state');
    this.env = env;
  }

  /** Command words put before the daemon (e.g. ['ip', 'netns', 'exec', NS] to run it in a namespace). */
  wrap: string[] = [];
  /** The daemon executable. */
  bin = BIN.daemon;

  /** Spawns the daemon (same state directory, socket and ports each time); does not wait. */
  spawn(): Proc {
    this.starts++;
    const log = join(this.dir, 'daemon.log');
    this.proc = this.wrap.length
      ? Proc.run([...this.wrap, requireBuilt(this.bin)], this.env, log)
      : Proc.spawn(requireBuilt(this.bin), [], this.env, log, this.nodeArgs);
    return this.proc;
  }

  /** Waits until the socket answers a health check (SERVING when `serving`, any answer otherwise). */
  async waitServing(opts: { serving?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const client = new IpamClient(this.socket);
    try {
      await until(
        'daemon serving',
        async () => {
          const h = await client.healthCheck('', 1000);
          return !opts.serving || h.status === 1 ? true : undefined;
        },
        opts.timeoutMs ?? 20_000,
        this.proc,
      );
    } finally {
      client.close();
    }
  }

  async start(opts: { serving?: boolean } = { serving: true }): Promise<void> {
    this.spawn();
    await this.waitServing(opts);
  }

  async introspect<T = any>(path: string): Promise<T> {
    const res = await fetch(`${this.introspectionUrl}${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  /** CPU time (user + system) the daemon process has used, ms. */
  cpuMs(): number {
    const fields = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the command), in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  }

  /** VmRSS of the daemon process, MiB. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return kb / 1024;
  }
}

/** A temporary directory with one sim server and one daemon; cleanup() kills both and removes everything. */
export class TestNode {
  readonly dir: string;
  readonly sim: SimProcess;
  daemon!: DaemonProcess;

  private constructor(dir: string, sim: SimProcess) {
    this.dir = dir;
    this.sim = sim;
  }

  static async create(opts: DaemonOptions & SimOptions & { start?: boolean } = {}): Promise<TestNode> {
    const dir = mkdtempSync(join(tmpdir(), 'edges-node-'));
    const sim = new SimProcess(dir, join(dir, 'sim.sock'), join(dir, 'sim-state.json'), opts.args ?? []);
    const node = new TestNode(dir, sim);
    live.add(node);
    try {
      await sim.start();
      const [introspection, metrics] = [await freePort(), await freePort()];
      const instanceId = opts.instanceId ?? `i-edges${Math.random().toString(16).slice(2, 10)}`;
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        TIDEPOOL_PROVIDER: 'sim',
        TIDEPOOL_SIM_ENDPOINT: sim.socket,
        TIDEPOOL_SIM_INSTANCE_ID: instanceId,
        TIDEPOOL_SIM_INSTANCE_TYPE: opts.instanceType ?? 'm5.large',
        TIDEPOOL_SOCKET: join(dir, 'run', 'ipamd.sock'),
        TIDEPOOL_STATE_DIR: join(dir, 'state'),
        TIDEPOOL_INTROSPECTION_ADDR: `127.0.0.1:${introspection}`,
        TIDEPOOL_METRICS_ADDR: `127.0.0.1:${metrics}`,
        TIDEPOOL_MANAGE_HOST_NETWORK: 'false',
        AWS_VPC_K8S_CNI_LOG_FILE: 'stdout',
        ...opts.env,
      };
      node.daemon = new DaemonProcess(dir, sim, instanceId, env);
      node.daemon.nodeArgs = opts.nodeArgs ?? [];
      if (opts.daemonBin) node.daemon.bin = opts.daemonBin;
      node.daemon.introspectionUrl = `http://127.0.0.1:${introspection}`;
      node.daemon.metricsUrl = `http://127.0.0.1:${metrics}`;
      if (opts.start ?? true) await node.daemon.start();
      return node;
    } catch (err) {
      await node.cleanup();
      throw err;
    }
  }

  /** Kills every process of this node and removes its directory (logs are kept when keepLogs). */
  async cleanup(): Promise<void> {
    live.delete(this);
    this.daemon?.proc?.kill('SIGKILL');
    await this.daemon?.proc?.exited;
    this.sim.proc?.kill('SIGKILL');
    await this.sim.proc?.exited;
    this.sim.admin.close();
    if (!process.env.TIDEPOOL_KEEP_TEST_DIRS)
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}

const live = new Set<TestNode>();
function killLive(): void {
  for (const n of live) for (const p of [n.daemon?.proc, n.sim.proc]) if (p?.alive) p.kill('SIGKILL');
}
// Last resort if a test process ends without running its afterAll (an exception, `timeout`, Ctrl-C): no
// daemon or sim outlives it. A signal is re-raised after the kill, so the process still ends as it would.
process.once('exit', killLive);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
  process.once(signal, () => {
    killLive();
    process.kill(process.pid, signal);
  });
