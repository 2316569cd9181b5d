// What a benchmark or the demo needs before it touches anything: root, and the real tools on PATH.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export class PreflightError extends Error {
  constructor(
    message: string,
    /** Exit code: 77 (not root, as scripts/demo.sh) or 69 (EX_UNAVAILABLE: a tool is missing). */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'PreflightError';
  }
}

/** Debian package that ships each tool, for the error message. */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  nft: 'nftables',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  nsenter: 'util-linux',
  socat: 'socat',
};

export function which(tool: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Throws a PreflightError naming what is missing (every missing tool at once). */
export function preflight(what: string, tools: string[]): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new PreflightError(
      `${what} must run as root: it creates network namespaces, veth pairs and nftables tables (try: sudo npm run ${what.includes('demo') ? 'demo' : 'bench'})`,
      77,
    );
  const missing = tools.filter((t) => which(t) === null);
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => PACKAGE_OF[t] ?? t))];
    throw new PreflightError(
      `${what} needs ${missing.join(', ')}, not found on PATH: run scripts/setup.sh (or apt-get install ${pkgs.join(' ')})`,
      69,
    );
  }
}
