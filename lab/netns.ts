// Network namespaces and the processes the lab runs in them. Every lab process lives in a lab namespace
// (the sim and the fabric controller in the vpc namespace, each daemon in its node's namespace), so
// `ip netns pids` finds them all when the lab is torn down, even if their pids were never recorded.
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';

export class LabCommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${code}): ${stderr.trim()}`);
    this.name = 'LabCommandError';
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its outcome (never rejects for a non-zero exit). */
export function runCommand(
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0],
      argv.slice(1),
      { env: opts.env ?? process.env, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr || (err && code !== 0 ? err.message : '')),
        });
      },
    );
    // A command that exits without reading its input must not crash the caller with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a command and returns stdout; throws LabCommandError on a non-zero exit. */
export async function must(argv: string[], input?: string): Promise<string> {
  const r = await runCommand(argv, { input });
  if (r.code !== 0) throw new LabCommandError(argv, r.code, r.stderr);
  return r.stdout;
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Creates a namespace with loopback up (idempotent). */
export async function createNetns(name: string): Promise<void> {
  if (!netnsExists(name)) await must(['ip', 'netns', 'add', name]);
  await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(name: string): Promise<void> {
  if (netnsExists(name)) await must(['ip', 'netns', 'del', name]);
}

/** Pids of the processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  if (!netnsExists(name)) return [];
  const r = await runCommand(['ip', 'netns', 'pids', name]);
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => n > 0 && n !== process.pid);
}

export interface SpawnedProcess {
  pid: number;
}

/**
 * Starts a long-running process inside a namespace, detached in its own process group, with stdout and
 * stderr appended to `logFile`. The process carries TIDEPOOL_LAB_ID so teardown can tell it from a
 * process that reused its pid.
 */
export function spawnInNetns(
  netns: string,
  argv: string[],
  opts: { env: NodeJS.ProcessEnv; logFile: string; labId: string },
): SpawnedProcess {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], {
      env: { ...opts.env, TIDEPOOL_LAB_ID: opts.labId },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    if (!child.pid) throw new Error(`could not start ${argv.join(' ')} in ${netns}`);
    child.unref();
    return { pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` is alive and was started by the lab `labId`. */
export function isLabProcess(pid: number, labId: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return env.split('\0').includes(`TIDEPOOL_LAB_ID=${labId}`);
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !existsSync(`/proc/${pid}`)
      ? false
      : !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z ');
  } catch {
    return false;
  }
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL; to the process group when the pid leads one. */
export async function stopProcesses(pids: number[], graceMs = 3000): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* not a group leader, or gone */
    }
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  };
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of pids.filter(alive)) signal(p, 'SIGKILL');
  const hard = Date.now() + 2000;
  while (pids.some(alive) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
}
