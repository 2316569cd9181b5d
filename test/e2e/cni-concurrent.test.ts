// Concurrent operations on one attachment (issue 11, defect 7): 20 ADDs of the same container and ifname at
// once, through the real plugin executable and the real daemon, all get one answer — the same result, or
// code 11 "try again" — and leave one allocation and one datapath; 20 DELs at once then remove it all. A
// lock left by a plugin that was killed is broken; a lock of a live one is waited for.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { Netns } from '../helpers/netns.js';

describe('concurrent operations on one attachment', () => {
  let host: Netns;
  let pod: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let locks: string;
  let inv: (extra?: Partial<Invocation>) => Invocation;

  beforeAll(async () => {
    host = Netns.create('cnisafe');
    pod = Netns.create('cnisafe');
    dir = mkdtempSync(join(tmpdir(), 'tp-cnisafe-conc-'));
    locks = join(dir, 'locks');
    daemon = await startCniDaemon(host);
    const stdin = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tidepool',
      type: 'tidepool',
      socket: daemon.socket,
      logFile: join(dir, 'plugin.log'),
      lockDir: locks,
    });
    inv = (extra = {}) => ({
      command: 'ADD',
      containerId: 'same-1',
      netns: pod.path,
      ifname: 'eth0',
      args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=same',
      stdin,
      ...extra,
    });
  });
  afterAll(async () => {
    await daemon?.cleanup();
    await pod?.cleanup();
    await host?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('20 ADDs of the same attachment at once get one answer, one address and one datapath', async () => {
    const before = [host.snapshot(), pod.snapshot(), await daemon.allocations()];
    const runs = await Promise.all(Array.from({ length: 20 }, () => runPlugin(host, inv())));
    const ok = runs.filter((r) => r.code === 0);
    const other = runs.filter((r) => r.code !== 0);
    expect(other.map((r) => r.json?.code)).toEqual(other.map(() => 11));
    // At least one ADD came after the first and got its answer from the datapath already there (they wait
    // up to 60 s for the lock, so in practice all 20 do).
    expect(ok.length).toBeGreaterThan(1);
    for (const r of ok) expect(r.json).toEqual(ok[0].json);
    const ip = ok[0].json.ips[0].address.split('/')[0];
    expect(await daemon.allocations()).toEqual([...(before[2] as string[]), ip].sort());
    expect(pod.json('link show').map((l: any) => l.ifname)).toEqual(['lo', 'eth0']);
    expect(host.json(`route show ${ip}/32`)).toHaveLength(1);
    expect(readdirSync(locks)).toEqual([]);
    // The answer is the datapath's: CHECK agrees with it.
    const check = await runPlugin(host, inv({ command: 'CHECK', stdin: withPrev(inv().stdin, ok[0].json) }));
    expect(check).toMatchObject({ code: 0, stdout: '' });

    const dels = await Promise.all(
      Array.from({ length: 20 }, () =>
        runPlugin(host, inv({ command: 'DEL', stdin: withPrev(inv().stdin, ok[0].json) })),
      ),
    );
    expect(dels.map((r) => r.code)).toEqual(dels.map(() => 0));
    expect([host.snapshot(), pod.snapshot(), await daemon.allocations()]).toEqual(before);
    expect(readdirSync(locks)).toEqual([]);
  }, 180_000);

  it('breaks the lock of a plugin that was killed, not before it died', async () => {
    mkdirSync(locks, { recursive: true, mode: 0o700 });
    const lock = join(locks, `${createHash('sha1').update('tidepool/same-1/eth0').digest('hex')}.lock`);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const holder = spawn('sleep', ['60']);
    const stat = readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    writeFileSync(lock, `pid=${holder.pid} start=${start} boot=${boot} nonce=aa\ntidepool/same-1/eth0\n`);
    try {
      const add = runPlugin(host, inv());
      // The holder lives for a while, then dies without releasing (as kill -9 leaves it).
      await new Promise((r) => setTimeout(r, 1500));
      const killedAt = Date.now();
      holder.kill('SIGKILL');
      const r = await add;
      expect(r).toMatchObject({ code: 0, json: { ips: [expect.anything()] } });
      const broke = readFileSync(join(dir, 'plugin.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('breaking the lock of a process that died'))
        .map((l) => JSON.parse(l));
      expect(broke).toEqual([
        expect.objectContaining({ holder: expect.stringContaining(`pid=${holder.pid} `) }),
      ]);
      expect(broke[0].time).toBeGreaterThanOrEqual(killedAt);
      expect((await runPlugin(host, inv({ command: 'DEL' }))).code).toBe(0);
      expect(readdirSync(locks)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

function withPrev(stdin: string | Buffer, prevResult: unknown): string {
  return JSON.stringify({ ...JSON.parse(stdin.toString()), prevResult });
}
