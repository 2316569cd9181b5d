// The Kubernetes e2e framework's agnhost test image, built locally without a registry or a container
// engine, under its exact upstream name (registry.k8s.io/e2e-test-images/agnhost:2.66.1, what v1.37.2's
// test/utils/image/manifest.go asks for), so the unmodified e2e.test finds it already present.
// Contents: /agnhost (built from the same Kubernetes module by scripts/k8s/build-e2e.sh) as the entrypoint,
// and the userland the networking specs exec into the pods (`/bin/sh -c "curl ... | grep ..."`,
// `echo hostName | nc -w 1 -u ...`): Debian's dash as /bin/sh, curl, netcat-openbsd's nc, busybox-static's
// applets for the rest (grep, ...), and their shared libraries: the packages' dependency closure, fetched
// with `apt-get download` and unpacked, never installed.
// dash, not busybox, is /bin/sh: Debian's busybox shell runs its own applets before PATH, and busybox's nc
// has no -u (`nc: invalid option -- 'u'`). Upstream's image is Alpine-based; this one is a reconstruction
// with the real agnhost binary and a Debian userland.
// Reproducible: fixed mtimes, sorted entries, owner 0:0 (images/lib/oci.ts); cached outside the repo under
// a key of every input (agnhost's bytes, the package versions, this builder and oci.ts), so a second call
// returns the cached archive, and a rebuild of the same inputs gives the same digest.
// Usage: node --import tsx images/agnhost/build.ts [--out FILE]   (prints "<digest> <archive>")
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dependencyClosure, fetchDebs, packageList, unpackDebs, type DebianPackage } from '../lib/debian.js';
import { walk, writeImage } from '../lib/oci.js';

export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.66.1';
export const K8S_BIN = process.env.TIDEPOOL_K8S_BIN ?? '/var/cache/tidepool/k8s/v1.37.2/bin';
export const AGNHOST_BIN = join(K8S_BIN, 'agnhost');
export const IMAGE_CACHE = process.env.TIDEPOOL_IMAGE_CACHE ?? '/var/cache/tidepool/image';
/** 2026-01-01T00:00:00Z. */
const EPOCH = 1767225600;
export const ROOT_PACKAGES = ['libc6', 'dash', 'curl', 'netcat-openbsd', 'busybox-static'];
/** busybox applets that must not shadow the real tools (see the header). */
const NOT_FROM_BUSYBOX = new Set(['sh', 'ash', 'nc', 'hush']);

const here = dirname(fileURLToPath(import.meta.url));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface AgnhostImage {
  archive: string;
  digest: string;
  packages: DebianPackage[];
}

/** The key of every input of the image: a change to any of them gives a new archive. */
function inputKey(packages: DebianPackage[]): string {
  return sha256(
    [
      sha256(readFileSync(AGNHOST_BIN)),
      packageList(packages),
      sha256(readFileSync(join(here, 'build.ts'))),
      sha256(readFileSync(join(here, '../lib/oci.ts'))),
    ].join('\n'),
  ).slice(0, 16);
}

/** The root filesystem in stage: the packages, the symlinks their maintainer scripts would make, the
 * busybox applets for what no package provides, /agnhost. */
function stageRoot(stage: string, debs: string[]): void {
  unpackDebs(debs, stage);
  // dash ships /bin/sh -> dash itself; /bin/nc is what netcat-openbsd's postinst (update-alternatives)
  // would link.
  if (readlinkSync(join(stage, 'bin/sh')) !== 'dash') throw new Error('dash did not provide /bin/sh -> dash');
  symlinkSync('nc.openbsd', join(stage, 'bin/nc'));
  const applets = execFileSync(join(stage, 'bin/busybox'), ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  for (const rel of applets) {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    const dst = join(stage, rel);
    if (NOT_FROM_BUSYBOX.has(name) || existsSync(dst)) continue;
    mkdirSync(dirname(dst), { recursive: true });
    // A relative link to /bin/busybox from the applet's directory.
    const depth = rel.split('/').length - 1;
    symlinkSync(`${'../'.repeat(depth)}bin/busybox`, dst);
  }
  for (const d of ['etc', 'proc', 'sys', 'dev', 'run', 'var/run'])
    mkdirSync(join(stage, d), { recursive: true });
  mkdirSync(join(stage, 'tmp'), { recursive: true });
  copyFileSync(AGNHOST_BIN, join(stage, 'agnhost'));
  execFileSync('chmod', ['0755', join(stage, 'agnhost')]);
}

/** Builds the image archive into out (or returns the cached one when out is not given). */
export function buildAgnhostImage(out?: string): AgnhostImage {
  if (!existsSync(AGNHOST_BIN))
    throw new Error(`${AGNHOST_BIN} is missing: run scripts/setup.sh (scripts/k8s/build-e2e.sh builds it)`);
  const packages = dependencyClosure(ROOT_PACKAGES);
  const cacheDir = join(IMAGE_CACHE, 'agnhost');
  const cached = join(cacheDir, `agnhost-2.66.1-${inputKey(packages)}.oci.tar`);
  if (!out && existsSync(cached) && existsSync(`${cached}.digest`))
    return { archive: cached, digest: readFileSync(`${cached}.digest`, 'utf8').trim(), packages };
  const debs = fetchDebs(packages, join(IMAGE_CACHE, 'debs'));
  const stage = mkdtempSync(join(tmpdir(), 'tp-agnhost-'));
  const target = out ?? cached;
  mkdirSync(dirname(target), { recursive: true });
  try {
    stageRoot(stage, debs);
    const entries = walk(stage).map((e) => (e.path === 'tmp' ? { ...e, mode: 0o1777 } : e));
    const tmp = `${target}.tmp-${process.pid}`;
    const img = writeImage(tmp, {
      name: AGNHOST_IMAGE,
      entries,
      epoch: EPOCH,
      entrypoint: ['/agnhost'],
      labels: {
        'org.opencontainers.image.title': 'agnhost (Tidepool local reconstruction)',
        'io.tidepool.debian-packages': packageList(packages),
        'io.tidepool.agnhost-sha256': sha256(readFileSync(AGNHOST_BIN)),
      },
    });
    renameSync(tmp, target);
    writeFileSync(`${target}.digest`, `${img.digest}\n`);
    return { archive: target, digest: img.digest, packages };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const img = buildAgnhostImage(i > 0 ? resolve(process.argv[i + 1]) : undefined);
  console.log(`${img.digest} ${img.archive}`);
}
