// The one place where host network setup touches the kernel: iproute2 (`ip -json`, `ip -batch -`),
// nftables (`nft -f -`) and sysctls. Every call goes through `HostExec`, which runs in the daemon's own
// network namespace, or — when `netns` is given — inside that named namespace (`ip -n`, `ip netns exec`).
// Tests use `netns` so they never touch the namespace they run in.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

export class HostNetError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'HostNetError';
  }
}

export interface HostExecOptions {
  /** Name of a network namespace (under /run/netns) to work in; undefined = the current one. */
  netns?: string;
}

function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const msg = (stderr || err.message).trim();
        reject(new HostNetError(`${argv.join(' ')}: ${msg}`, argv.join(' '), String(stderr)));
      } else resolve(String(stdout));
    });
    child.stdin?.on('error', () => undefined); // a command that exits without reading: no EPIPE crash
    child.stdin?.end(input ?? '');
  });
}

export class HostExec {
  readonly netns?: string;

  constructor(opts: HostExecOptions = {}) {
    this.netns = opts.netns;
  }

  private ipArgv(args: string[]): string[] {
    return this.netns ? ['ip', '-n', this.netns, ...args] : ['ip', ...args];
  }

  /** Runs `ip ARGS`. */
  ip(args: string[]): Promise<string> {
    return run(this.ipArgv(args));
  }

  /** Runs `ip -json ARGS` and parses the result (an empty output is an empty list). */
  async ipJson<T = any>(args: string[]): Promise<T[]> {
    const out = await run(this.ipArgv(['-json', ...args]));
    return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
  }

  /**
   * Runs many `ip` commands in one process (`ip -batch -`). With `force`, later lines still run when one
   * fails (used for deletions whose targets may already be gone); the error then lists the failures.
   */
  async ipBatch(lines: string[], force = false): Promise<void> {
    if (lines.length === 0) return;
    const argv = this.ipArgv([...(force ? ['-force'] : []), '-batch', '-']);
    await run(argv, lines.join('\n') + '\n');
  }

  /** Applies an nftables script as one transaction (`nft -f -`): all of it or nothing. */
  nft(script: string): Promise<string> {
    const argv = ['nft', '-f', '-'];
    return run(this.netns ? ['ip', 'netns', 'exec', this.netns, ...argv] : argv, script);
  }

  /** Runs `nft ARGS` (e.g. `-j list table ip tidepool`). */
  nftCmd(args: string[]): Promise<string> {
    const argv = ['nft', ...args];
    return run(this.netns ? ['ip', 'netns', 'exec', this.netns, ...argv] : argv);
  }

  /**
   * Writes sysctls, keys as paths under /proc/sys (e.g. `net/ipv4/ip_forward`; slashes keep interface
   * names with dots intact). In the current namespace this writes /proc/sys directly (no process);
   * /proc/sys/net is per network namespace, so it is the daemon's own.
   */
  async sysctl(values: Record<string, string>): Promise<void> {
    const entries = Object.entries(values);
    if (entries.length === 0) return;
    if (this.netns) {
      await run([
        'ip',
        'netns',
        'exec',
        this.netns,
        'sysctl',
        '-q',
        '-w',
        ...entries.map(([k, v]) => `${k}=${v}`),
      ]);
      return;
    }
    for (const [k, v] of entries) {
      const path = '/proc/sys/' + k;
      // A value already set (by the chart's privileged init container) is not written again: in a
      // non-privileged container /proc/sys is read-only.
      if ((await readFile(path, 'utf8').catch(() => '')).trim() === v) continue;
      try {
        await writeFile(path, v);
      } catch (e) {
        throw new HostNetError(`sysctl ${k}=${v}: ${(e as Error).message}`, `write ${path}`, '');
      }
    }
  }
}
