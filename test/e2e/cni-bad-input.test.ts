// Bad input: malformed invocations of the plugin, each answered with the right CNI error code (error JSON
// on stdout, non-zero exit) and leaving nothing behind: the host and pod namespaces are compared link by
// link, route by route, rule by rule and nftables rule by rule before and after, and the daemon holds no
// more allocations than before. The plugin runs in a host namespace of the test, never the root one.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { Netns } from '../helpers/netns.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';

interface Case {
  what: string;
  code: number;
  inv: (t: Env) => Invocation;
  /** Whether the case must have reached the daemon's allocation and rolled it back. */
  allocates?: boolean;
}
interface Env {
  conf: (extra?: object) => string;
  base: Invocation;
  dir: string;
  hostNs: Netns;
}

const ADD = (t: Env, o: Partial<Invocation> = {}): Invocation => ({ ...t.base, ...o });
const prev = {
  interfaces: [{ name: 'eth0', sandbox: '/x' }],
  ips: [{ address: '10.0.1.10/32', interface: 0 }],
};

const cases: Case[] = [
  { what: 'CNI_COMMAND missing', code: 4, inv: (t) => ADD(t, { command: undefined }) },
  { what: 'CNI_COMMAND unknown', code: 4, inv: (t) => ADD(t, { command: 'CREATE' }) },
  { what: 'CNI_COMMAND in lower case', code: 4, inv: (t) => ADD(t, { command: 'add' }) },
  { what: 'empty stdin', code: 6, inv: (t) => ADD(t, { stdin: '' }) },
  { what: 'stdin not JSON', code: 6, inv: (t) => ADD(t, { stdin: 'cniVersion=1.0.0' }) },
  { what: 'truncated JSON', code: 6, inv: (t) => ADD(t, { stdin: t.conf().slice(0, 30) }) },
  { what: 'binary garbage', code: 6, inv: (t) => ADD(t, { stdin: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) }) },
  { what: 'JSON array', code: 6, inv: (t) => ADD(t, { stdin: '[]' }) },
  { what: 'JSON string', code: 6, inv: (t) => ADD(t, { stdin: '"tidepool"' }) },
  { what: 'cniVersion 0.2.0', code: 1, inv: (t) => ADD(t, { stdin: t.conf({ cniVersion: '0.2.0' }) }) },
  { what: 'cniVersion 2.0.0', code: 1, inv: (t) => ADD(t, { stdin: t.conf({ cniVersion: '2.0.0' }) }) },
  { what: 'cniVersion missing', code: 1, inv: (t) => ADD(t, { stdin: t.conf({ cniVersion: undefined }) }) },
  { what: 'cniVersion a number', code: 6, inv: (t) => ADD(t, { stdin: t.conf({ cniVersion: 1 }) }) },
  {
    what: 'name with illegal characters',
    code: 7,
    inv: (t) => ADD(t, { stdin: t.conf({ name: 'pod net!' }) }),
  },
  { what: 'name with a slash', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ name: '../etc' }) }) },
  { what: 'name missing', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ name: undefined }) }) },
  { what: 'type missing', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ type: undefined }) }) },
  {
    what: 'an ipam section',
    code: 2,
    inv: (t) => ADD(t, { stdin: t.conf({ ipam: { type: 'host-local' } }) }),
  },
  { what: 'mtu out of range', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ mtu: 65536 }) }) },
  { what: 'vethPrefix too long', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ vethPrefix: 'tidepool' }) }) },
  { what: 'relative socket path', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ socket: 'ipamd.sock' }) }) },
  { what: 'unknown logLevel', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ logLevel: 'verbose' }) }) },
  { what: 'dns not an object', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ dns: 'x' }) }) },
  { what: '10 MiB of stdin', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ pad: 'x'.repeat(10 << 20) }) }) },
  { what: 'CNI_IFNAME too long', code: 4, inv: (t) => ADD(t, { ifname: 'eth0123456789abc' }) },
  { what: "CNI_IFNAME with '/'", code: 4, inv: (t) => ADD(t, { ifname: 'eth/0' }) },
  { what: 'CNI_IFNAME ".."', code: 4, inv: (t) => ADD(t, { ifname: '..' }) },
  { what: 'CNI_IFNAME with a space', code: 4, inv: (t) => ADD(t, { ifname: 'eth 0' }) },
  { what: 'CNI_IFNAME missing', code: 4, inv: (t) => ADD(t, { ifname: undefined }) },
  { what: 'CNI_CONTAINERID missing', code: 4, inv: (t) => ADD(t, { containerId: undefined }) },
  {
    what: 'CNI_CONTAINERID with illegal characters',
    code: 4,
    inv: (t) => ADD(t, { containerId: 'abc;rm -rf' }),
  },
  { what: 'CNI_CONTAINERID starting with a dot', code: 4, inv: (t) => ADD(t, { containerId: '.abc' }) },
  { what: 'CNI_NETNS missing', code: 4, inv: (t) => ADD(t, { netns: undefined }) },
  { what: 'CNI_NETNS relative', code: 4, inv: (t) => ADD(t, { netns: 'run/netns/x' }) },
  {
    what: 'CNI_NETNS does not exist',
    code: 3,
    inv: (t) => ADD(t, { netns: '/run/netns/tp-cni-nonexistent' }),
  },
  { what: 'CNI_NETNS a regular file', code: 4, inv: (t) => ADD(t, { netns: join(t.dir, 'file') }) },
  { what: 'CNI_NETNS a directory', code: 4, inv: (t) => ADD(t, { netns: t.dir }) },
  { what: "CNI_NETNS the plugin's own namespace", code: 4, inv: (t) => ADD(t, { netns: t.hostNs.path }) },
  {
    what: 'CNI_NETNS a mount namespace (found only when entering it: the allocation is rolled back)',
    code: 4,
    allocates: true,
    inv: (t) => ADD(t, { netns: `/proc/${process.pid}/ns/mnt` }),
  },
  { what: 'CNI_ARGS not KEY=VALUE', code: 4, inv: (t) => ADD(t, { args: 'K8S_POD_NAME' }) },
  {
    what: 'CNI_ARGS unknown key without IgnoreUnknown',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAME=a;Color=blue' }),
  },
  {
    what: 'CNI_ARGS with a namespace the daemon refuses',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=Not_A_Namespace;K8S_POD_NAME=web-0' }),
  },
  { what: 'prevResult a string', code: 6, inv: (t) => ADD(t, { stdin: t.conf({ prevResult: 'yes' }) }) },
  {
    what: 'prevResult ips not a list',
    code: 6,
    inv: (t) => ADD(t, { stdin: t.conf({ prevResult: { ips: 'x' } }) }),
  },
  {
    what: 'prevResult address without a prefix length',
    code: 6,
    inv: (t) => ADD(t, { stdin: t.conf({ prevResult: { ips: [{ address: '10.0.1.10' }] } }) }),
  },
  {
    what: 'DEL with a prevResult interface index out of range',
    code: 6,
    inv: (t) => ADD(t, { command: 'DEL', stdin: t.conf({ prevResult: { ...prev, interfaces: [] } }) }),
  },
  {
    what: 'daemon socket absent',
    code: 11,
    inv: (t) => ADD(t, { stdin: t.conf({ socket: join(t.dir, 'none.sock') }) }),
  },
  {
    what: 'CHECK on a 0.3.1 config',
    code: 1,
    inv: (t) => ADD(t, { command: 'CHECK', stdin: t.conf({ cniVersion: '0.3.1', prevResult: prev }) }),
  },
  { what: 'CHECK without prevResult', code: 7, inv: (t) => ADD(t, { command: 'CHECK' }) },
  {
    what: 'GC on a 1.0.0 config',
    code: 1,
    inv: (t) => ADD(t, { command: 'GC', stdin: t.conf({ 'cni.dev/valid-attachments': [] }) }),
  },
  {
    what: 'GC with malformed attachments',
    code: 7,
    inv: (t) =>
      ADD(t, {
        command: 'GC',
        stdin: t.conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ id: 1 }] }),
      }),
  },
  {
    what: 'STATUS with the daemon socket absent',
    code: 50,
    inv: (t) =>
      ADD(t, { command: 'STATUS', stdin: t.conf({ cniVersion: '1.1.0', socket: join(t.dir, 'none.sock') }) }),
  },
];

describe('the plugin answers bad input with the right code and leaves nothing behind', () => {
  let hostNs: Netns;
  let podNs: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let env: Env;

  beforeAll(async () => {
    hostNs = Netns.create('cni');
    podNs = Netns.create('cni');
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-bad-'));
    writeFileSync(join(dir, 'file'), 'not a namespace');
    mkdirSync(join(dir, 'sub'));
    daemon = await startCniDaemon(hostNs);
    const conf = (extra: object = {}) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'tidepool',
        type: 'tidepool',
        socket: daemon.socket,
        logFile: join(dir, 'plugin.log'),
        ...extra,
      });
    env = {
      conf,
      dir,
      hostNs,
      base: {
        command: 'ADD',
        containerId: 'bad-input-1',
        netns: podNs.path,
        ifname: 'eth0',
        args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;IgnoreUnknown=1',
        stdin: conf(),
      },
    };
  });
  afterAll(async () => {
    await daemon?.cleanup();
    await podNs?.cleanup();
    await hostNs?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const before = [hostNs.snapshot(), podNs.snapshot(), await daemon.allocations()];
    const calls = await daemon.allocateCalls();
    const r = await runPlugin(hostNs, c.inv(env));
    expect(r.json).toMatchObject({ code: c.code });
    expect(typeof r.json.msg).toBe('string');
    expect(r.code).not.toBe(0);
    expect([hostNs.snapshot(), podNs.snapshot(), await daemon.allocations()]).toEqual(before);
    if (c.allocates) expect(await daemon.allocateCalls()).toBeGreaterThan(calls);
  });

  it('still sets up a pod after all of that (the cases failed for their own reason)', async () => {
    const r = await runPlugin(hostNs, env.base);
    expect(r.json).toMatchObject({ ips: [{ address: expect.stringMatching(/\/32$/) }] });
    const del = await runPlugin(hostNs, { ...env.base, command: 'DEL' });
    expect(del.code).toBe(0);
    expect(await daemon.allocations()).toEqual([]);
  });

  it('refuses a second ADD onto an existing eth0 without touching it or the first allocation', async () => {
    const first = await runPlugin(hostNs, env.base);
    expect(first.code).toBe(0);
    const before = [hostNs.snapshot(), podNs.snapshot(), await daemon.allocations()];
    const second = await runPlugin(hostNs, { ...env.base, containerId: 'bad-input-2' });
    expect(second.json).toMatchObject({ code: 100, msg: expect.stringMatching(/File exists/) });
    expect([hostNs.snapshot(), podNs.snapshot(), await daemon.allocations()]).toEqual(before);
    expect((await runPlugin(hostNs, { ...env.base, command: 'DEL' })).code).toBe(0);
  });
});
