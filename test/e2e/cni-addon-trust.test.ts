// The self-contained plugin (dist/bin/tidepool) writes its rtnetlink addon out of its own SEA assets to
// /run/tidepool/netlink-<hash>.node and loads a file found there only when it is root's, writable by no one
// else and of the addon's size; anything else of that name is replaced by the addon carried. Each case runs
// in a mount namespace of its own with a tmpfs on /run/tidepool (the machine's is never touched), and the
// plugin in the test's host namespace, against the real daemon, with no node on PATH.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { assertSelfContained, PATH_WITHOUT_NODE, PLUGIN } from '../helpers/cni-plugin.js';
import { Netns } from '../helpers/netns.js';

const ADDON = resolve('dist/native/netlink.node');

describe('the SEA plugin trusts its extracted addon by owner, mode and size', () => {
  let host: Netns;
  let pod: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let name: string;
  let addon: Buffer;

  beforeAll(async () => {
    assertSelfContained(PLUGIN);
    if (!existsSync(ADDON)) throw new Error(`${ADDON} is missing: the build could not make the addon`);
    addon = readFileSync(ADDON);
    name = `/run/tidepool/netlink-${createHash('sha256').update(addon).digest('hex').slice(0, 16)}.node`;
    host = Netns.create('cni');
    pod = Netns.create('cni');
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-addon-'));
    daemon = await startCniDaemon(host);
  });
  afterAll(async () => {
    await daemon?.cleanup();
    for (const ns of [pod, host]) await ns?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * In a private mount namespace: `plant` (shell), then ADD and DEL of one pod; prints the ADD's result and
   * the addon file's mode, owner and size. Returns the ADD's datapath (from the log) and the file.
   */
  function addWith(plant: string, id: string) {
    const log = join(dir, `${id}.log`);
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tidepool',
      type: 'tidepool',
      socket: daemon.socket,
      logFile: log,
    });
    const env = (cmd: string) =>
      [
        `PATH=${PATH_WITHOUT_NODE}`,
        `CNI_COMMAND=${cmd}`,
        `CNI_CONTAINERID=${id}`,
        `CNI_NETNS=${pod.path}`,
        'CNI_IFNAME=eth0',
        'CNI_PATH=/usr/lib/cni',
        `CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${id}`,
      ]
        .map((a) => `'${a}'`)
        .join(' ');
    const run = (cmd: string) =>
      `env -i ${env(cmd)} nsenter --net=${host.path} ${PLUGIN} <<'EOF' >${join(dir, `${id}.${cmd}`)} || true\n${conf}\nEOF\n`;
    const script =
      `mkdir -p /run/tidepool && mount -t tmpfs -o mode=0700 tidepool-test /run/tidepool\n${plant}\n` +
      run('ADD') +
      `stat -c '%a %u %s' ${name} > ${join(dir, `${id}.stat`)} || echo none > ${join(dir, `${id}.stat`)}\n` +
      `cp ${name} ${join(dir, `${id}.node`)} || : > ${join(dir, `${id}.node`)}\n` +
      run('DEL');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`the steps failed (${r.status}): ${r.stderr}`);
    const added = JSON.parse(readFileSync(join(dir, `${id}.ADD`), 'utf8'));
    if (!existsSync(log)) throw new Error(`no plugin log; ADD said ${JSON.stringify(added)}`);
    const line = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((e) => e.msg === 'pod network set up');
    return {
      added,
      datapath: line?.datapath as string | undefined,
      stat: readFileSync(join(dir, `${id}.stat`), 'utf8').trim(),
      bytes: readFileSync(join(dir, `${id}.node`)),
    };
  }

  it('writes the addon on first use (root, 0500, its size) and sets the datapath up with it', () => {
    const r = addWith('', 'addon-fresh');
    expect(r.added.ips).toHaveLength(1);
    expect(r.datapath).toBe('netlink');
    expect(r.stat).toBe(`500 0 ${addon.length}`);
    expect(r.bytes.equals(addon)).toBe(true);
  });

  it.each([
    ['writable by others', `printf garbage > NAME; chmod 0666 NAME`],
    ['owned by another user', `head -c SIZE /dev/zero > NAME; chown 1234 NAME; chmod 0500 NAME`],
    ['of another size', `printf garbage > NAME; chmod 0500 NAME`],
  ])('replaces a file of that name %s with the addon carried', (_what, plant) => {
    const id = `addon-${_what.split(' ').pop()}`;
    const r = addWith(plant.replace(/NAME/g, name).replace(/SIZE/g, String(addon.length)), id);
    expect(r.added.ips).toHaveLength(1);
    expect(r.datapath).toBe('netlink');
    expect(r.stat).toBe(`500 0 ${addon.length}`);
    expect(r.bytes.equals(addon)).toBe(true);
  });

  it('loads no addon from a directory that others may write: the datapath is set up with ip', () => {
    const r = addWith('chmod 0777 /run/tidepool', 'addon-dir');
    expect(r.added.ips).toHaveLength(1);
    expect(r.datapath).toBe('iproute2');
    expect(r.stat).toBe('none'); // and nothing written there
  });
});
