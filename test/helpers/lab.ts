// Test helpers for the datapath and lab tests: namespaces with a random prefix (so parallel tests never
// collide), commands inside them, and the lab CLI run as a separate process (`node --import tsx
// lab/main.ts`), exactly as an operator runs `tidepoolctl lab`. Everything is removed in afterAll, even
// when a test failed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((res) => {
    const child = execFile(
      argv[0],
      argv.slice(1),
      { env: opts.env ?? process.env, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000, cwd: ROOT },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
        res({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

export async function sh(argv: string[], input?: string): Promise<string> {
  const r = await run(argv, { input });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} → exit ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A unique namespace prefix for one test file: tp-lab-<hex>-. */
export function testPrefix(): string {
  return `tp-lab-${randomBytes(3).toString('hex')}-`;
}

/** `ip -n NS -json ARGS`, parsed. */
export async function ipJson<T = any>(ns: string, args: string[]): Promise<T[]> {
  const out = await sh(['ip', '-n', ns, '-json', ...args]);
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

export async function inNs(
  ns: string,
  cmd: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<Run> {
  return run(['ip', 'netns', 'exec', ns, ...cmd], opts);
}

/** Namespaces created by a test, removed (with their processes) by cleanup(). */
export class Namespaces {
  readonly names: string[] = [];
  constructor(readonly prefix: string) {}

  async add(name: string): Promise<string> {
    const ns = this.prefix + name;
    this.names.push(ns);
    await sh(['ip', 'netns', 'add', ns]);
    await sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  async cleanup(): Promise<void> {
    for (const ns of [...this.names].reverse()) {
      const pids = (await run(['ip', 'netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await run(['ip', 'netns', 'del', ns]);
    }
  }
}

/** Every namespace on the machine whose name starts with `prefix`. */
export function namespacesWithPrefix(prefix: string): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns').filter((n) => n.startsWith(prefix));
}

/** Pids of processes whose environment names this lab (TIDEPOOL_LAB_ID=<stateDir>). */
export function labProcesses(stateDir: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`, 'latin1');
      if (env.split('\0').includes(`TIDEPOOL_LAB_ID=${stateDir}`)) out.push(Number(d));
    } catch {
      /* gone or not ours to read */
    }
  }
  return out;
}

/** The lab CLI, run as its own process with this test's prefix and state directory. */
export class Lab {
  readonly stateDir: string;
  constructor(readonly prefix: string) {
    this.stateDir = `/run/tidepool-lab/${prefix.replace(/-+$/, '')}`;
  }

  /** The lab's command line; its own options go before any `--`. */
  argv(args: string[]): string[] {
    const i = args.indexOf('--');
    const head = i < 0 ? args : args.slice(0, i);
    const tail = i < 0 ? [] : args.slice(i);
    const opts = ['--prefix', this.prefix, '--state-dir', this.stateDir];
    return [process.execPath, '--import', 'tsx', resolve(ROOT, 'lab/main.ts'), ...head, ...opts, ...tail];
  }

  run(args: string[], timeoutMs = 180_000): Promise<Run> {
    return run(this.argv(args), { timeoutMs });
  }

  async must(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`lab ${args.join(' ')} → exit ${r.code}\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  /** Starts `lab ARGS` without waiting (to kill it midway). */
  start(args: string[]): ChildProcess {
    const argv = this.argv(args);
    return spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  exec(target: string, cmd: string[], timeoutMs = 60_000): Promise<Run> {
    return this.run(['exec', target, '--', ...cmd], timeoutMs);
  }

  async status(): Promise<any> {
    return JSON.parse(await this.must(['status', '--json']));
  }

  down(): Promise<Run> {
    return this.run(['down'], 120_000);
  }
}
