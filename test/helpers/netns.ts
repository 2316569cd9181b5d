// Network namespaces for tests, named tp-<area>-<random> so helpers never collide, always removed (with
// every process started in them) by cleanup(). Nothing here touches the root namespace.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function run(
  cmd: string,
  args: string[],
  input?: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20, env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) {
      child.stdin?.on('error', () => {});
      child.stdin?.end(input);
    }
  });
}

export class Netns {
  readonly path: string;
  private readonly children: ChildProcess[] = [];

  private constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  static create(area: string): Netns {
    const name = `tp-${area}-${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.sh('ip link set lo up');
    return ns;
  }

  /** Runs a shell command in the namespace; throws with stderr when it fails. */
  sh(command: string): string {
    return execFileSync('ip', ['netns', 'exec', this.name, 'sh', '-c', command], { encoding: 'utf8' });
  }

  /** Like sh, but resolves with the exit code instead of throwing. */
  exec(argv: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', this.name, ...argv], input);
  }

  json<T = any>(ipArgs: string): T {
    return JSON.parse(
      execFileSync('ip', ['-n', this.name, '-json', ...ipArgs.split(' ')], { encoding: 'utf8' }) || '[]',
    );
  }

  /** Starts a long-running process in the namespace, in its own process group (killed by cleanup). */
  start(argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...argv], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    return child;
  }

  /** Everything a test must find unchanged: links, addresses, routes of all tables, rules, nftables. */
  snapshot(opts: { nft?: boolean } = {}): string {
    const q = (args: string) =>
      execFileSync('ip', ['netns', 'exec', this.name, 'sh', '-c', args], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => !/ifindex|^\s*$/.test(l))
        .join('\n');
    return [
      // Without the operational state: the kernel settles it asynchronously (linkwatch), UNKNOWN then UP
      // some time after a link is brought up, so two snapshots of an untouched link could differ.
      q('ip -o link show | sed -E "s/^[0-9]+: //; s/ +qlen.*//; s/ state [A-Z]+ / /"'),
      q('ip -o -4 addr show'),
      q(
        'ip route show table all | grep -v "^local\\|^broadcast\\|^multicast\\|^fe80\\|^ff00\\|^::1\\|^anycast" || true',
      ),
      q('ip rule show'),
      opts.nft === false ? '' : q('nft list ruleset 2>/dev/null || true'),
    ].join('\n---\n');
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.pid) {
        try {
          process.kill(-c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}
