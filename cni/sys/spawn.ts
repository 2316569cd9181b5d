// Runs a program to completion with `input` on its stdin, collecting stdout and stderr (node:child_process's
// spawnSync). node:child_process is imported on first use: an ADD on the rtnetlink addon runs no program.

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
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(argv[0], argv.slice(1), { input, maxBuffer: MAX_BUFFER });
  return {
    status: r.status,
    stdout: r.stdout?.toString() ?? '',
    stderr: r.stderr?.toString() ?? '',
    error: r.error ? ((r.error as NodeJS.ErrnoException).code ?? r.error.message) : undefined,
  };
}
