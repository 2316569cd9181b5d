// One operation at a time on an attachment (network, container id, ifname): ADD, DEL and CHECK of the same
// attachment run one after the other, so 20 ADDs of one pod get one answer (issue 11, defect 7). Node has
// no flock(2), so the lock is a file created atomically with its content (written to a private file, then
// link(2)ed to the lock's name: EEXIST means held) that names its holder by pid, process start time and
// boot id. A holder that died (kill -9) is detected by those three and its lock is broken.
//
// Breaking is the delicate part: two waiters that both find the holder dead must not both remove "the"
// lock, or the second removes the fresh lock of the first. So a stale lock with token T is removed only
// by the one process that created the marker `<lock>.break-<hash of T>` (link(2) again: one winner), and
// only after re-reading that the lock still holds T. While that marker exists no one else removes the lock;
// once the winner has removed the lock (or seen it changed) T can never come back (tokens are unique), so
// the winner drops the marker and a late waiter that wins a new one finds T gone and does nothing. A marker
// whose own creator died is broken the same way, one level up. Every step is one link, read or unlink.
//
// The liveness check assumes every invocation for a node runs in one PID namespace (the runtime's), as it
// does under containerd and CRI-O.
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from './datapath/random.js';
import { sha1Hex } from '../proto/sha1.js';
import { CniError, ErrorCode } from './errors.js';
import type { Logger } from './log.js';

export interface AttachmentKey {
  network: string;
  containerId: string;
  ifname: string;
}

interface Holder {
  pid: number;
  start: string;
  boot: string;
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), and the state (field 3). */
function procStat(pid: number | 'self'): { state: string; start: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // ENOENT, or ESRCH when the process exits while it is read: gone either way
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')': fields follow the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], start: f[19] };
}

let bootId: string | undefined;
const boot = () => (bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());

function parseHolder(token: string): Holder | null {
  const m = /^pid=(\d+) start=(\d+) boot=([0-9a-f-]+) /.exec(token);
  return m ? { pid: Number(m[1]), start: m[2], boot: m[3] } : null;
}

/** Whether the process that wrote `token` still runs (not a zombie, not a reused pid, not another boot). */
function alive(token: string): boolean {
  const h = parseHolder(token);
  if (!h || h.boot !== boot()) return false;
  const st = procStat(h.pid);
  return st !== null && st.start === h.start && st.state !== 'Z' && st.state !== 'X';
}

/** A blocking sleep: the plugin's commands run without turning the event loop (README "Start-up"). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class AttachmentLock {
  private held = false;

  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly token: string,
    private readonly log: Logger,
  ) {}

  /**
   * Takes the lock of `key` in `dir`, waiting up to `waitMs` for a live holder; then code 11 (try again),
   * naming the holder.
   */
  static acquire(dir: string, key: AttachmentKey, waitMs: number, log: Logger): AttachmentLock {
    requireSafeDir(dir);
    const me = procStat('self');
    const id = `${key.network}/${key.containerId}/${key.ifname}`;
    const token = `pid=${process.pid} start=${me?.start ?? 0} boot=${boot()} nonce=${randomBytes(8).toString('hex')}\n${id}\n`;
    const lock = new AttachmentLock(`${dir}/${sha1Hex(id)}.lock`, dir, token, log);
    lock.take(waitMs, id);
    return lock;
  }

  private take(waitMs: number, id: string): void {
    const deadline = Date.now() + waitMs;
    let pause = 2;
    for (;;) {
      if (this.create(this.path, this.token)) {
        this.held = true;
        return;
      }
      const holder = readOrNull(this.path);
      if (holder === null) continue; // released between our attempt and the read
      if (!alive(holder)) {
        this.log.warn('breaking the lock of a process that died', {
          lock: this.path,
          holder: firstLine(holder),
        });
        this.breakStale(this.path, holder, 0);
        continue;
      }
      if (Date.now() >= deadline)
        throw new CniError(
          ErrorCode.TryAgainLater,
          `another operation on ${id} is still running (${firstLine(holder)}; lock ${this.path})`,
        );
      sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Creates `path` holding `content`, atomically; false when it exists. */
  private create(path: string, content: string): boolean {
    const tmp = `${this.dir}/.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    writeFileSync(tmp, content, { flag: 'wx', mode: 0o600 });
    try {
      linkSync(tmp, path);
      return true;
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    } finally {
      unlinkSync(tmp);
    }
  }

  /** Removes `path` if it still holds `stale`, when this process wins the right to (see the header). */
  private breakStale(path: string, stale: string, depth: number): void {
    if (depth > 8) throw new CniError(ErrorCode.TryAgainLater, `cannot break the stale lock ${path}`);
    const marker = `${path}.break-${sha1Hex(stale).slice(0, 16)}`;
    if (!this.create(marker, this.token)) {
      const owner = readOrNull(marker);
      if (owner !== null && !alive(owner)) this.breakStale(marker, owner, depth + 1);
      else sleep(1); // another waiter is breaking it right now
      return;
    }
    if (readOrNull(path) === stale) unlinkSync(path);
    unlinkSync(marker);
    this.sweepTemporaries();
  }

  /**
   * The private files of processes killed between writing one and linking it (a name holds its writer's
   * pid; only that writer ever uses it): swept when a stale lock is broken, since a process was killed.
   */
  private sweepTemporaries(): void {
    for (const name of readdirSync(this.dir)) {
      const pid = /^\.tmp-(\d+)-/.exec(name)?.[1];
      if (pid && procStat(Number(pid)) === null) rmSync(`${this.dir}/${name}`, { force: true });
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      if (readOrNull(this.path) === this.token) unlinkSync(this.path);
    } catch (err) {
      this.log.warn('cannot remove the attachment lock', { lock: this.path, error: (err as Error).message });
    }
  }
}

const firstLine = (s: string) => s.split('\n')[0];

/**
 * The lock directory is created if missing and must be a directory (not a link) of the plugin's user that
 * no one else can write: otherwise anyone could hold or remove the locks of every pod.
 */
function requireSafeDir(dir: string): void {
  const uid = process.geteuid?.() ?? 0;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CniError(ErrorCode.IoFailure, `cannot create the lock directory ${dir}: ${errno(err)}`);
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `lockDir ${dir} must be a directory owned by uid ${uid} that no one else can write`,
      `it is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'not a directory'} ` +
        `of uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}`,
    );
}
