// The attachment lock (cni/lock.ts) with real processes: contenders that take one key's lock again and
// again while the test kills some of them with SIGKILL, as kill -9 would end a plugin mid-ADD. Mutual
// exclusion must hold throughout (no two live processes inside at once), a lock whose holder died must be
// broken (the survivors finish), and nothing but the private files of killed writers may be left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttachmentLock } from '../../cni/lock.js';
import { CniError } from '../../cni/errors.js';
import { Logger } from '../../cni/log.js';
import { ROOT } from '../helpers/daemon.js';

interface Contender {
  child: ChildProcess;
  out: string;
  done: Promise<number | null>;
}

function contend(dir: string, rounds: number): Contender {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/helpers/lock-contender.ts'), dir, String(rounds)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const c: Contender = { child, out: '', done: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout!.on('data', (b: Buffer) => (c.out += b.toString()));
  return c;
}

const key = { network: 'net', containerId: 'c1', ifname: 'eth0' };
const lockName = () => `${createHash('sha1').update('net/c1/eth0').digest('hex')}.lock`;
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const startOf = (pid: number) => {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return t.slice(t.lastIndexOf(')') + 2).split(' ')[19];
};

describe('the attachment lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-cnisafe-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lets one live process in at a time while holders are killed inside, and survivors finish', async () => {
    const rounds = 150;
    const all: Contender[] = [];
    for (let i = 0; i < 5; i++) all.push(contend(dir, rounds));
    // Kill a contender now and then (often while it holds the lock: it holds it most of its time) and
    // start another in its place.
    let kills = 0;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 400));
      const victim = all.find((c) => c.child.exitCode === null && c.child.signalCode === null);
      if (!victim) break;
      victim.child.kill('SIGKILL');
      kills++;
      all.push(contend(dir, rounds));
    }
    const codes = await Promise.all(all.map((c) => c.done));
    const survivors = all.filter((c) => c.child.signalCode === null);
    expect(kills).toBeGreaterThan(0);
    expect(all.map((c) => c.out).join('')).not.toMatch(/violation/);
    expect(survivors.map((c) => c.out.trim())).toEqual(survivors.map(() => 'done'));
    expect(codes.filter((c) => c === 0).length).toBe(survivors.length);
    // One clean round after the last kill breaks whatever the killed left.
    const last = contend(dir, 1);
    expect(await last.done).toBe(0);
    const left = readdirSync(join(dir, 'locks'));
    expect(left.filter((n) => !n.startsWith('.tmp-'))).toEqual([]);
    expect(left.length).toBeLessThanOrEqual(kills);
  }, 180_000);

  it('breaks the lock of a process that died, and waits for one that lives (code 11 at its deadline)', () => {
    const log = new Logger();
    const locks = join(dir, 'locks');
    mkdirSync(locks, { mode: 0o700 });
    // A holder that died: its pid is free (a pid beyond any in use would do as well).
    writeFileSync(join(locks, lockName()), `pid=999999999 start=1 boot=${bootId()} nonce=00\nnet/c1/eth0\n`);
    const a = AttachmentLock.acquire(locks, key, 1000, log);
    expect(readdirSync(locks)).toEqual([lockName()]);
    // While it is held by a live process (this one), another attempt waits and gives up with code 11.
    let err: unknown;
    try {
      AttachmentLock.acquire(locks, key, 300, log);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({
      code: 11,
      message: expect.stringMatching(/another operation on net\/c1\/eth0/),
    });
    a.release();
    expect(readdirSync(locks)).toEqual([]);
    // A holder whose pid now belongs to another process (start time differs) is dead too.
    writeFileSync(
      join(locks, lockName()),
      `pid=${process.pid} start=${Number(startOf(process.pid)) + 1} boot=${bootId()} nonce=00\nx\n`,
    );
    AttachmentLock.acquire(locks, key, 1000, log).release();
    expect(readdirSync(locks)).toEqual([]);
  });

  it('refuses a lock directory that others can write', () => {
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    expect(() => AttachmentLock.acquire(open, key, 100, new Logger())).toThrow(/no one else can write/);
  });
});
