// The built plugin (npm run build): dist/bin/tidepool is a self-contained executable (a Node single
// executable application, not a script) that answers with no `node` on PATH; the script form of the same
// bundle (dist/lib/tidepool-plugin.js) trusts its V8 code cache in /run/tidepool only when the directory
// and the file belong to root and no one else can write them; a logFile that is a directory is a
// configuration error naming it. The cache cases run in a mount namespace of their own with a tmpfs on
// /run/tidepool, so the machine's /run/tidepool is never touched.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pluginEnv } from '../../lab/plugin.js';
import { assertSelfContained, PATH_WITHOUT_NODE } from '../helpers/cni-plugin.js';
import { ROOT } from '../helpers/daemon.js';

const SEA = join(ROOT, 'dist/bin/tidepool');
const SCRIPT = join(ROOT, 'dist/lib/tidepool-plugin.js');
const NO_NODE_PATH = PATH_WITHOUT_NODE;

let dir: string;
beforeAll(() => {
  for (const f of [SEA, SCRIPT]) if (!existsSync(f)) throw new Error(`${f} is missing: npm run build`);
  dir = mkdtempSync(join(tmpdir(), 'tp-cni-exe-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const conf = (o: object = {}) =>
  JSON.stringify({
    cniVersion: '1.1.0',
    name: 'tidepool',
    type: 'tidepool',
    socket: join(dir, 'absent.sock'),
    ...o,
  });

function run(argv: string[], env: Record<string, string>, stdin: string) {
  const r = spawnSync(argv[0], argv.slice(1), { env, input: stdin, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: r.stdout ? JSON.parse(r.stdout) : null };
}

describe('dist/bin/tidepool', () => {
  it('is an ELF executable, not a script, and needs no node on PATH', () => {
    const fd = openSync(SEA, 'r');
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    expect(head).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46])); // \x7fELF, not #!
    assertSelfContained(SEA);
    // No node on that PATH, but the programs the plugin and the runtimes need are.
    expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: NO_NODE_PATH } }).status).not.toBe(0);
    for (const p of ['ip', 'nsenter', 'sh'])
      expect(spawnSync('sh', ['-c', `command -v ${p}`], { env: { PATH: NO_NODE_PATH } }).status).toBe(0);
    const r = run([SEA], { PATH: NO_NODE_PATH, CNI_COMMAND: 'VERSION' }, conf());
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.json.supportedVersions).toContain('1.1.0');
  });

  it('is what the lab runs, with no node on its PATH either', () => {
    const { PATH } = pluginEnv({ command: 'ADD' });
    expect(PATH).toBe(PATH_WITHOUT_NODE);
    expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH } }).status).not.toBe(0);
    const r = run([SEA], { PATH, CNI_COMMAND: 'VERSION' }, conf());
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it('refuses a logFile that is a directory, naming it (code 7)', () => {
    const logDir = join(dir, 'logs');
    spawnSync('mkdir', ['-p', logDir]);
    const r = run([SEA], { PATH: NO_NODE_PATH, CNI_COMMAND: 'STATUS' }, conf({ logFile: logDir }));
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.msg).toContain(logDir);
    expect(r.json.msg).toMatch(/is a directory/);
  });
});

describe('the script form trusts its code cache by owner and mode', () => {
  // One shell in a private mount namespace with a tmpfs on /run/tidepool: each step runs an ADD (it fails:
  // no daemon, code 11, but the cache is written at exit) and prints the cache file's inode, mode and owner.
  function steps(script: string): string[] {
    const add =
      `CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/proc/self/ns/net CNI_IFNAME=eth0 ` +
      `${process.execPath} ${SCRIPT} <<'EOF' >/dev/null || true\n${conf()}\nEOF\n`;
    const show = `stat -c '%i %a %u' /run/tidepool/plugin-*.v8cache 2>/dev/null || echo none\n`;
    const body = script.replace(/ADD\n/g, add).replace(/SHOW\n/g, show);
    const r = spawnSync(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-ec',
        `mkdir -p /run/tidepool && mount -t tmpfs -o mode=0700 tidepool-test /run/tidepool\n${body}`,
      ],
      { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } },
    );
    if (r.status !== 0) throw new Error(`steps failed (${r.status}): ${r.stderr}`);
    return r.stdout.trim().split('\n');
  }

  it('keeps a cache of root, 0600; replaces one that others may write or that another user owns', () => {
    const [first, again, afterChmod, afterChown] = steps(
      'ADD\nSHOW\nADD\nSHOW\n' +
        'chmod 0666 /run/tidepool/plugin-*.v8cache\nADD\nSHOW\n' +
        'chown 1234 /run/tidepool/plugin-*.v8cache\nADD\nSHOW\n',
    );
    const [ino] = first.split(' ');
    expect(first).toMatch(/^\d+ 600 0$/);
    expect(again).toBe(first); // trusted and used: not written again
    expect(afterChmod).toMatch(/^\d+ 600 0$/); // not trusted: compiled afresh and replaced
    expect(afterChmod.split(' ')[0]).not.toBe(ino);
    expect(afterChown).toMatch(/^\d+ 600 0$/);
    expect(afterChown.split(' ')[0]).not.toBe(afterChmod.split(' ')[0]);
  });

  it('neither reads nor writes a cache in a directory that others may write', () => {
    const [before, after] = steps(
      'chmod 0777 /run/tidepool\nADD\nSHOW\nchmod 0700 /run/tidepool\nADD\nSHOW\n',
    );
    expect(before).toBe('none');
    expect(after).toMatch(/^\d+ 600 0$/);
  });
});
