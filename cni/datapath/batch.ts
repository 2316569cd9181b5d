// Runs iproute2 in batch mode: one `ip -batch -` process per namespace and step, so that an ADD costs two
// short processes. In a pod namespace it runs under `nsenter --net=PATH` (iproute2's `-n` only takes names
// under /var/run/netns, containerd's paths are not always there). With `force`, every line runs and the
// failures come back per line; a failure whose message matches the line's `tolerate` pattern is expected
// (deleting what is already gone), anything else is an error.
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from '../errors.js';
import { netlink, type NetlinkOp } from '../sys/netlink.js';
import { runSync } from '../sys/spawn.js';

export interface Line {
  cmd: string;
  /** A failure of this line whose message matches is not an error (e.g. deleting what is already gone). */
  tolerate?: RegExp;
  /** The same operation for the in-process rtnetlink path (sys/netlink.ts); a batch runs there when every
   * line has one and the addon is present, else through `ip`. */
  op?: NetlinkOp;
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

/**
 * Synchronous, not spawn: an asynchronous child costs three pipe streams and several turns of the event
 * loop; two of them added ~16 ms of CPU and ~30 ms of wall time to every ADD, a synchronous one ~5 ms.
 */
async function runChild(
  argv: string[],
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runSync(argv, input);
  // EPIPE: the child exited before reading its input (nsenter refusing a path that is not a network
  // namespace). Its exit status and stderr say why; only a child that never ran is a failure to run.
  const exited = r.error === 'EPIPE' && r.status !== null;
  if (r.error && !exited) throw new DatapathError(`cannot run ${argv[0]}: ${r.error}`);
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
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

/** Runs `lines` in one `ip -batch` process; returns ip's stdout. Throws naming the first line that really failed. */
export async function ipBatch(lines: Line[], opts: BatchOptions = {}): Promise<string> {
  if (lines.length === 0) return '';
  // The addon is loaded only for a batch it can run whole (ADD's steps; DEL, CHECK and GC go to ip).
  const nl = !opts.json && lines.every((l) => l.op) ? netlink() : null;
  if (nl) {
    let messages: string[];
    try {
      messages = nl.apply(
        opts.netns ?? null,
        lines.map((l) => l.op!),
        opts.force ?? false,
      );
    } catch (err) {
      throw namespaceOrDatapathError(opts.netns, (err as Error).message, '');
    }
    messages.forEach((m, i) => {
      if (m !== '' && !lines[i].tolerate?.test(m)) throw lineError(lines[i], opts.netns, m, m);
    });
    return '';
  }
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
  const res = await runChild(argv, lines.map((l) => l.cmd).join('\n') + '\n');
  if (res.code === 0) return res.stdout;
  const failures = parseFailures(res.stderr);
  for (const [n, message] of failures) {
    const line = lines[n - 1];
    if (line?.tolerate?.test(message)) continue;
    if (!line) throw namespaceOrDatapathError(opts.netns, message, res.stderr);
    throw lineError(line, opts.netns, message, res.stderr);
  }
  if (failures.size === 0) throw new DatapathError(`ip exited with ${res.code}`, res.stderr);
  return res.stdout;
}

/** A line that failed, named as the `ip` command it is. */
function lineError(line: Line, netns: string | undefined, message: string, details: string): DatapathError {
  return new DatapathError(`ip ${line.cmd}${netns ? ` in ${netns}` : ''}: ${message}`, details);
}

/** A failure to run in the namespace at all: a path that is not a network namespace, or another error. */
function namespaceOrDatapathError(netns: string | undefined, message: string, details: string): CniError {
  if (
    netns &&
    /reassociate to namespace|Cannot open network namespace|setting the network namespace/.test(message)
  )
    return new CniError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${netns} is not a network namespace`,
      message,
    );
  return new DatapathError(`ip -batch${netns ? ` in ${netns}` : ''}: ${message}`, details);
}
