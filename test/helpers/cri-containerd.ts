// An own containerd 1.6 (Debian) for the CRI e2e test: its own root, state, socket and config, started
// INSIDE the test's host namespace (containerd's CRI runs CNI plugins in containerd's own network
// namespace, so the plugin, portmap and bandwidth act on the test namespace, never the root one).
// Recipe: reference cni-spec-and-test-tools.md 4.2 — restrict_oom_score_adj (CAP_SYS_RESOURCE is missing
// here), a bin_dir with loopback, a locally built pause image imported into the k8s.io namespace.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriClient } from './cri.js';
import { PATH_WITHOUT_NODE } from './cni-plugin.js';
import type { Netns } from './netns.js';
import { containerdConfig } from '../../lab/k8s/containerd-config.js';
import { buildPauseImage } from './pause-image.js';

export interface ContainerdOptions {
  /** Plugin binaries: name → path (symlinked into bin_dir); loopback is added. */
  plugins: Record<string, string>;
  /** The conflist containerd loads (conf_dir holds only this file). */
  conflist: object;
  /** A directory holding another containerd and its containerd-shim-runc-v2 (default: Debian's 1.6 on
   * PATH), e.g. containerd 2.x built by scripts/k8s/build-containerd.sh. */
  binDir?: string;
}

export class Containerd {
  readonly socket: string;
  readonly binDir: string;
  readonly confDir: string;
  cri!: CriClient;
  private proc: ChildProcess | null = null;

  private constructor(
    readonly dir: string,
    readonly host: Netns,
  ) {
    this.socket = join(dir, 'containerd.sock');
    this.binDir = join(dir, 'bin');
    this.confDir = join(dir, 'net.d');
  }

  static async start(host: Netns, opts: ContainerdOptions): Promise<Containerd> {
    const c = new Containerd(mkdtempSync(join(tmpdir(), 'tp-cni-containerd-')), host);
    try {
      await c.boot(opts);
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  private async boot(opts: ContainerdOptions): Promise<void> {
    const { dir } = this;
    mkdirSync(this.binDir);
    mkdirSync(this.confDir);
    for (const [name, path] of Object.entries({ loopback: '/usr/lib/cni/loopback', ...opts.plugins }))
      execFileSync('ln', ['-s', path, join(this.binDir, name)]);
    writeFileSync(join(this.confDir, '10-test.conflist'), JSON.stringify(opts.conflist));
    const config = containerdConfig({
      dir,
      socket: this.socket,
      cniBinDir: this.binDir,
      cniConfDir: this.confDir,
      disableNri: Boolean(opts.binDir),
    });
    writeFileSync(join(dir, 'config.toml'), config);
    const log = openSync(join(dir, 'containerd.log'), 'a');
    // nsenter, not `ip netns exec`: the latter remounts /sys in a private mount namespace, which hides the
    // cgroup mounts from runc and the sandbox netns bind mounts from everyone else.
    this.proc = spawn(
      'nsenter',
      [
        `--net=${this.host.path}`,
        opts.binDir ? join(opts.binDir, 'containerd') : 'containerd',
        '--config',
        join(dir, 'config.toml'),
      ],
      {
        stdio: ['ignore', log, log],
        detached: true,
        // No node on containerd's PATH, and so on its plugins': the CNI plugin is self-contained.
        env: { PATH: opts.binDir ? `${opts.binDir}:${PATH_WITHOUT_NODE}` : PATH_WITHOUT_NODE },
      },
    );
    closeSync(log);
    for (let i = 0; !existsSync(this.socket); i++) {
      if (this.proc.exitCode !== null || i > 300)
        throw new Error(`containerd did not start:\n${this.log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    execFileSync(
      'ctr',
      ['-a', this.socket, '-n', 'k8s.io', 'images', 'import', '--all-platforms', buildPauseImage()],
      {
        stdio: 'pipe',
      },
    );
    this.cri = new CriClient(this.socket);
    for (let i = 0; ; i++) {
      const ready = await this.cri.conditions().catch(() => ({}) as Record<string, boolean>);
      if (ready.RuntimeReady && ready.NetworkReady) break;
      if (i > 200)
        throw new Error(`containerd CRI not ready: ${JSON.stringify(ready)}\n${this.log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  log(): string {
    const f = join(this.dir, 'containerd.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Every process (shims, pause) started for this containerd: their command line names our socket. */
  private ownProcesses(): number[] {
    const pids: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(this.dir)) pids.push(Number(p));
      } catch {
        /* gone */
      }
    }
    return pids;
  }

  /** Removes every sandbox still there, stops containerd and its shims, removes its directories. */
  async stop(): Promise<void> {
    if (this.cri) {
      for (const s of await this.cri.listPodSandbox().catch(() => [])) {
        await this.cri.stopPodSandbox(s.id).catch(() => undefined);
        await this.cri.removePodSandbox(s.id).catch(() => undefined);
      }
      this.cri.close();
    }
    if (this.proc?.pid && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      process.kill(-this.proc.pid, 'SIGTERM');
      const t = setTimeout(() => this.proc?.pid && process.kill(-this.proc.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    for (const pid of this.ownProcesses()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // Mounts a crashed run may have left (rootfs of a sandbox, shm): unmount before removing.
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m) => m?.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* already unmounted */
      }
    }
    if (!process.env.TIDEPOOL_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
