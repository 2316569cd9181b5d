// Debian packages as image contents, never installed: the dependency closure of a few root packages at
// apt's candidate versions (apt-cache depends --recurse, apt-cache policy), fetched once with
// `apt-get download` into a cache outside the repo and unpacked with `dpkg-deb -x` (no maintainer scripts
// run). The exact versions go into the image's labels, so the same apt state gives the same image.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface DebianPackage {
  name: string;
  version: string;
}

/** Pulled in only for maintainer scripts or alternatives; an image runs none of them. */
export const MAINTAINER_ONLY = [
  'debconf',
  'cdebconf',
  'dpkg',
  'install-info',
  'gawk',
  'mawk',
  'original-awk',
  'tar',
  'libdebian-installer4',
  'libnewt0.52',
  'libslang2',
  'libtextwrap1',
  'libsigsegv2',
  'libmpfr6',
  'readline-common',
  'libreadline8',
  'libcap2-bin',
  'debianutils',
  'perl-base',
  'gcc-12-base',
];

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The packages of the roots' dependency closure (minus skip), each at apt's candidate version, sorted. */
export function dependencyClosure(
  roots: string[],
  skip: Iterable<string> = MAINTAINER_ONLY,
): DebianPackage[] {
  const skipped = new Set(skip);
  const out = run('apt-cache', [
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    ...roots,
  ]);
  const names = [...new Set(out.split('\n').filter((l) => l && !l.startsWith(' ') && !l.startsWith('<')))]
    .filter((n) => !skipped.has(n))
    .sort();
  // One apt-cache policy call for all of them (each call loads apt's cache: ~0.7 s).
  const candidates = new Map<string, string>();
  let current = '';
  for (const line of run('apt-cache', ['policy', ...names]).split('\n')) {
    if (/^\S.*:$/.test(line)) current = line.slice(0, -1);
    const m = /^ {2}Candidate: (\S+)/.exec(line);
    if (m && current) candidates.set(current, m[1]);
  }
  return names.map((name) => {
    const version = candidates.get(name);
    if (!version || version === '(none)')
      throw new Error(`apt has no candidate for ${name} (run apt-get update)`);
    return { name, version };
  });
}

/** Downloads (once, into dir) and returns the .deb files of the packages, in the same order. */
export function fetchDebs(pkgs: DebianPackage[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const fileOf = (p: DebianPackage) => {
    const v = p.version.replace(/:/g, '%3a');
    return readdirSync(dir).find((f) => f.startsWith(`${p.name}_${v}_`));
  };
  const missing = pkgs.filter((p) => !fileOf(p));
  if (missing.length)
    run('apt-get', ['download', '-q', ...missing.map((p) => `${p.name}=${p.version}`)], dir);
  return pkgs.map((p) => {
    const f = fileOf(p);
    if (!f) throw new Error(`apt-get download ${p.name}=${p.version} left no .deb in ${dir}`);
    return join(dir, f);
  });
}

/** Documentation and translations: not needed to run, removed to keep a layer small. */
const DOC_DIRS = [
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'usr/share/lintian',
];

/** Unpacks each .deb into root (dpkg-deb -x: files only, no scripts), without the documentation. */
export function unpackDebs(debs: string[], root: string): void {
  for (const deb of debs) run('dpkg-deb', ['-x', deb, root]);
  for (const d of DOC_DIRS) rmSync(join(root, d), { recursive: true, force: true });
}

/** `name=version ...`, for an image label. */
export const packageList = (pkgs: DebianPackage[]) => pkgs.map((p) => `${p.name}=${p.version}`).join(' ');
