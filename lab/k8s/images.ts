// The images the cluster lab imports into each node's containerd (no registry anywhere):
// - the chart's image (images/tidepool/build.ts) built from the current dist/, cached by a digest of its
//   inputs so that a second `lab up` on the same build reuses it;
// - a small web server, Debian's busybox-static (`apt-get download`, not installed) as one layer:
//   /bin/busybox with its applets linked, an index page, `httpd -f -p 8080 -h /www` as the command;
// - the sandbox image (images/pause/build.ts).
// Each is an OCI image layout archive; importNodeImages() loads them with `ctr -n k8s.io images import`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, DEFAULT_NAME, IMAGE_CACHE, ROOT } from '../../images/tidepool/build.js';
import { writeImage, type TarEntry } from '../../images/lib/oci.js';
import { buildPauseImage, PAUSE_IMAGE } from '../../images/pause/build.js';

export { PAUSE_IMAGE };
export const TIDEPOOL_IMAGE = DEFAULT_NAME;
export const WEB_IMAGE = 'localhost/tidepool-web:1';
/** The port the web image's httpd listens on. */
export const WEB_PORT = 8080;
const LAB_CACHE = join(IMAGE_CACHE, 'lab');
const EPOCH = 1767225600;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every file under dir (sorted), for the cache key. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The chart's image from the current dist/ (cached by a digest of dist/, the lock file and the script). */
export function tidepoolImage(log: (m: string) => void): string {
  const dist = join(ROOT, 'dist');
  if (!existsSync(join(dist, 'bin/tidepool-ipamd')))
    throw new Error(`${dist}/bin/tidepool-ipamd is missing: run npm run build first`);
  const h = createHash('sha256');
  for (const f of [
    ...files(dist).filter((f) => !f.startsWith(join(dist, 'image'))),
    join(ROOT, 'package-lock.json'),
    join(ROOT, 'images/tidepool/install-cni.sh'),
  ]) {
    h.update(f.slice(ROOT.length));
    h.update(readFileSync(f));
  }
  const out = join(LAB_CACHE, `tidepool-${h.digest('hex').slice(0, 16)}.oci.tar`);
  if (existsSync(out)) return out;
  mkdirSync(LAB_CACHE, { recursive: true });
  log(`building the chart's image ${TIDEPOOL_IMAGE} from dist/ (images/tidepool/build.ts)`);
  const tmp = `${out}.${process.pid}.tmp`;
  buildImage({ out: tmp, epoch: EPOCH });
  renameSync(tmp, out);
  // Older builds of the chart's image (other dist/ contents) are not needed after a day.
  for (const f of readdirSync(LAB_CACHE))
    if (/^tidepool-[0-9a-f]{16}\.oci\.tar$/.test(f) && join(LAB_CACHE, f) !== out)
      if (Date.now() - statSync(join(LAB_CACHE, f)).mtimeMs > 86_400_000) rmSync(join(LAB_CACHE, f));
  return out;
}

/** busybox-static's .deb (downloaded once into the image cache). */
function busyboxDeb(): string {
  const dir = join(IMAGE_CACHE, 'debs');
  mkdirSync(dir, { recursive: true });
  const find = () => readdirSync(dir).find((f) => f.startsWith('busybox-static_') && f.endsWith('.deb'));
  if (!find()) run('apt-get', ['download', '-q', 'busybox-static'], dir);
  const f = find();
  if (!f) throw new Error(`apt-get download busybox-static left no .deb in ${dir}`);
  return join(dir, f);
}

const APPLETS = [
  'sh',
  'httpd',
  'wget',
  'hostname',
  'cat',
  'echo',
  'ls',
  'sleep',
  'ip',
  'nc',
  'ping',
  'grep',
  'ps',
  'kill',
];

/** The web-server image: busybox's httpd serving /www on WEB_PORT. */
export function webImage(): string {
  const deb = busyboxDeb();
  const key = sha(readFileSync(deb) + APPLETS.join(',') + WEB_IMAGE + WEB_PORT).slice(0, 16);
  const out = join(LAB_CACHE, `web-${key}.oci.tar`);
  if (existsSync(out)) return out;
  mkdirSync(LAB_CACHE, { recursive: true });
  const stage = mkdtempSync(join(tmpdir(), 'tp-web-image-'));
  try {
    run('dpkg-deb', ['-x', deb, stage]);
    const busybox = readFileSync(join(stage, 'bin/busybox'));
    const entries: TarEntry[] = [
      { path: 'bin', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
      ...APPLETS.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, mode: 0o777, link: 'busybox' })),
      { path: 'www', type: 'dir', mode: 0o755 },
      { path: 'www/index.html', type: 'file', mode: 0o644, data: Buffer.from('tidepool web\n') },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'proc', type: 'dir', mode: 0o755 },
      { path: 'sys', type: 'dir', mode: 0o755 },
      { path: 'dev', type: 'dir', mode: 0o755 },
    ];
    const tmp = `${out}.${process.pid}.tmp`;
    writeImage(tmp, {
      name: WEB_IMAGE,
      entries,
      env: ['PATH=/bin'],
      cmd: ['/bin/httpd', '-f', '-p', String(WEB_PORT), '-h', '/www'],
      epoch: EPOCH,
      labels: { 'org.opencontainers.image.title': 'tidepool-web (busybox httpd)' },
    });
    renameSync(tmp, out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

/** The archives every node imports: pause, the chart's image, the web server. */
export function labImages(log: (m: string) => void): string[] {
  return [buildPauseImage(), tidepoolImage(log), webImage()];
}
