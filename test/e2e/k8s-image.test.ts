// The chart's image, built without a container engine (images/tidepool/build.ts): two builds from the same
// inputs are byte-identical (same digest); the archive is a valid OCI image layout that a real containerd
// imports under its name, and a container run from it by containerd (runc, its own empty network
// namespace, inside the test's namespace) has the pinned Node, iproute2, nftables, grpc-health-probe, the
// daemon and the plugin.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, DEFAULT_NAME } from '../../images/tidepool/build.js';
import { Containerd } from '../helpers/cri-containerd.js';
import { Netns } from '../helpers/netns.js';

describe('the tidepool image', () => {
  let dir: string;
  let host: Netns;
  let containerd: Containerd | undefined;
  let first: ReturnType<typeof buildImage>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-k8s-image-'));
    first = buildImage({ out: join(dir, 'a.tar'), epoch: 1767225600 });
  }, 900_000);
  afterAll(async () => {
    await containerd?.stop();
    await host?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is reproducible: a second build from the same inputs has the same bytes and digest', () => {
    const second = buildImage({ out: join(dir, 'b.tar'), epoch: 1767225600 });
    expect(second.digest).toBe(first.digest);
    expect(readFileSync(join(dir, 'b.tar')).equals(readFileSync(join(dir, 'a.tar')))).toBe(true);
    rmSync(join(dir, 'b.tar'));
    expect(first.packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(['libc6', 'dash', 'coreutils', 'iproute2', 'nftables', 'libstdc++6']),
    );
  }, 900_000);

  it('imports into containerd under its name and runs its tools', async () => {
    host = Netns.create('k8simg');
    containerd = await Containerd.start(host, {
      plugins: {},
      conflist: { cniVersion: '1.0.0', name: 'lo', plugins: [{ type: 'loopback' }] },
    });
    const ctr = (...args: string[]) =>
      execFileSync(
        'nsenter',
        [`--net=${host.path}`, 'ctr', '-a', containerd!.socket, '-n', 'k8s.io', ...args],
        {
          encoding: 'utf8',
        },
      );
    ctr('images', 'import', join(dir, 'a.tar'));
    const list = ctr('images', 'ls');
    const line = list.split('\n').find((l) => l.startsWith(DEFAULT_NAME + ' '));
    expect(line).toContain(first.digest);
    const run = (id: string, ...cmd: string[]) =>
      ctr('run', '--rm', DEFAULT_NAME, `${id}-${process.pid}`, ...cmd).trim();
    expect(run('node', '/app/bin/node', '--version')).toBe('v24.22.3');
    expect(run('ip', 'ip', '-V')).toMatch(/^ip utility, iproute2-6\./);
    expect(run('nft', 'nft', '--version')).toMatch(/^nftables v1\./);
    expect(run('probe', '/app/bin/grpc-health-probe', '-version')).toMatch(/0\.4\.63/);
    expect(
      run(
        'files',
        'sh',
        '-c',
        'test -x /app/dist/bin/tidepool && test -f /app/dist/bin/tidepool-ipamd && echo ok',
      ),
    ).toBe('ok');
    // The daemon starts in the image (its bundle and better-sqlite3 load) and refuses bad settings by name.
    let out = '';
    try {
      run('daemon', 'env', 'WARM_IP_TARGET=lots', '/app/bin/node', '/app/dist/bin/tidepool-ipamd');
    } catch (e) {
      out = String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr);
    }
    expect(out).toContain('WARM_IP_TARGET');
  }, 300_000);
});
