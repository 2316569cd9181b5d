// Runs a command and collects its output. The demo and the benchmarks drive iproute2, iperf3 and ping as
// separate processes (the real tools a user has), so this is the one place that spawns them.
import { spawn, type ChildProcess } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${code}): ${stderr.trim().slice(0, 500)}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Resolve even when the exit code is not 0 (the caller reads `code`). */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new CommandError(`${cmd} ${args.join(' ')}`, null, err.message));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code !== 0 && !opts.allowFailure)
        reject(new CommandError(`${cmd} ${args.join(' ')}`, code, stderr));
      else resolve(result);
    });
    // A command that exits before reading its input must not crash us with EPIPE: its exit code tells.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs `cmd` inside network namespace `ns` (ip netns exec). */
export function runIn(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Starts a long-running process in its own process group, so it and its children can be killed together. */
export function startIn(ns: string, cmd: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

/** Kills a process started by startIn and its children (the whole process group). */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Applies a list of `ip` commands in one process (ip -batch), optionally inside a namespace. */
export async function ipBatch(lines: string[], ns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = ns ? ['-n', ns, '-batch', '-'] : ['-batch', '-'];
  await run('ip', args, { input: lines.join('\n') + '\n' });
}
