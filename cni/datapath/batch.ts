// Runs iproute2 in batch mode: one `ip -batch -` process per namespace and step, so that an ADD costs two
// short processes. In a pod namespace it runs under `nsenter --net=PATH` (iproute2's `-n` only takes names
// under /var/run/netns, containerd's paths are not always there). With `force`, every line runs and the
// failures come back per line; a failure whose message matches the line's `tolerate` pattern is expected
// (deleting what is already gone), anything else is an error.
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from '../errors.js';

export interface Line {
  cmd: string;
  /** A failure of this line whose message matches is not an error (e.g. deleting what is already gone). */
  tolerate?: RegExp;
}

export const GONE = /No such|does not exist|Cannot find device|not found|FIB table does not exist/i;

export interface BatchOptions {
  /** Path of the network namespace to run in; none = the plugin's own (host) namespace. */
  netns?: string;
  force?: boolean;
  json?: boolean;
}

function find(name: string, dirs: string[]): string {
  for (const d of dirs) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return name; // let PATH decide; a runtime's PATH may be minimal, hence the fixed list first
}
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
let ipPath: string | undefined;
let nsenterPath: string | undefined;

export class DatapathError extends CniError {
  constructor(msg: string, details = '') {
    super(ErrorCode.DatapathFailure, msg, details);
    this.name = 'DatapathError';
  }
}

interface Child {
  /** Sends the commands (closing stdin) and waits for the process to end. */
  finish(input: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function spawnChild(argv: string[]): Promise<Child> {
  // Loaded on first use: commands that fail validation never pay for child_process.
  const { spawn } = await import('node:child_process');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => {}); // the child may exit before reading everything (it reports why)
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', (e) => reject(new DatapathError(`cannot run ${argv[0]}: ${e.message}`)));
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
  });
  return {
    finish: (input) => {
      child.stdin.end(input);
      return done;
    },
  };
}

/** Failures per batch line number (1-based), from ip's "Command failed -:N" markers. */
export function parseFailures(stderr: string): Map<number, string> {
  const failures = new Map<number, string>();
  let pending: string[] = [];
  for (const text of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(text.trim());
    if (m) {
      failures.set(Number(m[1]), pending.join(' ').trim());
      pending = [];
    } else if (text.trim() !== '') pending.push(text.trim());
  }
  if (pending.length > 0) failures.set(0, pending.join(' ')); // a failure outside the batch (nsenter, usage)
  return failures;
}

/** An `ip -batch` process started ahead of its commands (its start-up overlaps other work). */
export interface PendingBatch {
  run(lines: Line[]): Promise<string>;
  /** Ends the process without commands, when it is not needed after all. */
  abort(): void;
}

export function startBatch(opts: BatchOptions = {}): PendingBatch {
  ipPath ??= find('ip', SYSTEM_DIRS);
  const ip = [ipPath, ...(opts.json ? ['-json'] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'];
  let argv = ip;
  // A namespace iproute2 knows by name (containerd's /var/run/netns/cni-…) is entered by ip itself (-n);
  // any other path through nsenter, one exec more.
  const named = opts.netns ? /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(opts.netns) : null;
  if (named) argv = [ipPath, '-n', named[1], ...ip.slice(1)];
  else if (opts.netns) {
    nsenterPath ??= find('nsenter', SYSTEM_DIRS);
    argv = [nsenterPath, `--net=${opts.netns}`, ...ip];
  }
  const child = spawnChild(argv);
  child.catch(() => {}); // reported by run(); abort() must not leave an unhandled rejection
  let used = false;
  return {
    abort: () => {
      if (used) return;
      used = true;
      void child.then((c) => c.finish('')).catch(() => {});
    },
    run: async (lines) => {
      if (used) throw new DatapathError('ip batch used twice');
      used = true;
      const res = await (await child).finish(lines.map((l) => l.cmd).join('\n') + '\n');
      if (res.code === 0) return res.stdout;
      const failures = parseFailures(res.stderr);
      for (const [n, message] of failures) {
        const line = lines[n - 1];
        if (line?.tolerate?.test(message)) continue;
        if (
          !line &&
          opts.netns &&
          /reassociate to namespace|Cannot open network namespace|setting the network namespace/.test(message)
        )
          throw new CniError(
            ErrorCode.InvalidEnvironment,
            `CNI_NETNS ${opts.netns} is not a network namespace`,
            message,
          );
        const where = opts.netns ? ` in ${opts.netns}` : '';
        throw new DatapathError(
          line ? `ip ${line.cmd}${where}: ${message}` : `ip -batch${where}: ${message}`,
          res.stderr,
        );
      }
      if (failures.size === 0) throw new DatapathError(`ip exited with ${res.code}`, res.stderr);
      return res.stdout;
    },
  };
}

/** Runs `lines` in a new `ip -batch` process; returns ip's stdout. Throws naming the first line that really failed. */
export async function ipBatch(lines: Line[], opts: BatchOptions = {}): Promise<string> {
  if (lines.length === 0) return '';
  return startBatch(opts).run(lines);
}
