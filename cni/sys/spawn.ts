// Runs a program to completion with `input` on its stdin, collecting stdout and stderr: through the
// spawn_sync binding when this Node has it (bindings.ts), else node:child_process's spawnSync, which wraps
// the same binding in option validation and stdio plumbing.
import { errnoName, spawnBinding } from './bindings.js';

export interface SyncResult {
  /** Exit status, or null when a signal ended the child. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** Why the child could not run or be fed (an errno name such as ENOENT or EPIPE), if it could not. */
  error?: string;
}

const MAX_BUFFER = 64 << 20;

export async function runSync(argv: string[], input: string): Promise<SyncResult> {
  const b = spawnBinding();
  if (!b) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(argv[0], argv.slice(1), { input, maxBuffer: MAX_BUFFER });
    return {
      status: r.status,
      stdout: r.stdout?.toString() ?? '',
      stderr: r.stderr?.toString() ?? '',
      error: r.error ? ((r.error as NodeJS.ErrnoException).code ?? r.error.message) : undefined,
    };
  }
  const envPairs: string[] = [];
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) envPairs.push(`${k}=${v}`);
  const r = b.spawn({
    file: argv[0],
    args: argv,
    envPairs,
    stdio: [
      { type: 'pipe', readable: true, writable: false, input: Buffer.from(input) },
      { type: 'pipe', readable: false, writable: true },
      { type: 'pipe', readable: false, writable: true },
    ],
    detached: false,
    windowsHide: false,
    windowsVerbatimArguments: false,
    killSignal: 15,
    maxBuffer: MAX_BUFFER,
  });
  return {
    status: r.status ?? null,
    stdout: r.output?.[1]?.toString() ?? '',
    stderr: r.output?.[2]?.toString() ?? '',
    error: r.error ? errnoName(r.error) : undefined,
  };
}
