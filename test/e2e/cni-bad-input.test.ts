// Bad input: malformed invocations of the plugin, each answered with the right CNI error code (error JSON
// on stdout, non-zero exit) — or, for a DEL that must not block a pod's deletion, with success — and
// leaving nothing behind: the node and pod namespaces are compared link by link, route by route, rule by
// rule and nftables rule by rule before and after, and so are the daemon's allocations and the lock
// directory. The plugin runs in a node namespace of the test with a stand-in eth0, never the root one. The
// corpus's shape (test/helpers/bad-input.ts) is shared with the daemon API's corpus.
import { chmodSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCorpus, netState, type BadInputCase } from '../helpers/bad-input.js';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { Netns } from '../helpers/netns.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';

interface Case {
  what: string;
  /** The CNI code expected; 0: the command must succeed. */
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
  podNs: Netns;
}

const ADD = (t: Env, o: Partial<Invocation> = {}): Invocation => ({ ...t.base, ...o });
const DEL = (t: Env, o: Partial<Invocation> = {}): Invocation => ({ ...t.base, command: 'DEL', ...o });
const prev = {
  interfaces: [{ name: 'eth0', sandbox: '/x' }],
  ips: [{ address: '10.0.1.10/32', interface: 0 }],
};
const withPrev = (t: Env, prevResult: unknown, extra: object = {}) => t.conf({ prevResult, ...extra });
/** A config whose one string holds bytes that are not UTF-8. */
const notUtf8 = (t: Env) => {
  const text = t.conf({ pad: 'PAD' });
  const i = text.indexOf('PAD');
  return Buffer.concat([
    Buffer.from(text.slice(0, i)),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(text.slice(i + 3)),
  ]);
};
const badIp = (address: string) => ({ ...prev, ips: [{ address, interface: 0 }] });

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
    what: 'CNI_ARGS with a namespace that is not a Kubernetes name',
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
    what: 'DEL with a prevResult interface index out of range (logged; DEL must not block)',
    code: 0,
    inv: (t) => DEL(t, { stdin: withPrev(t, { ...prev, interfaces: [] }) }),
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

  // Names in bytes and strings as text (issue 11, defect 5).
  { what: 'CNI_IFNAME of 8 characters and 16 bytes', code: 4, inv: (t) => ADD(t, { ifname: 'éééééééé' }) },
  { what: 'DEL with CNI_IFNAME of 16 bytes', code: 4, inv: (t) => DEL(t, { ifname: 'eth0€€€€' }) },
  { what: 'CNI_IFNAME "."', code: 4, inv: (t) => ADD(t, { ifname: '.' }) },
  { what: "CNI_IFNAME with ':'", code: 4, inv: (t) => ADD(t, { ifname: 'eth0:1' }) },
  { what: 'CNI_IFNAME with a tab', code: 4, inv: (t) => ADD(t, { ifname: 'eth\t0' }) },
  { what: "CNI_IFNAME with '#' (a comment to ip -batch)", code: 4, inv: (t) => ADD(t, { ifname: 'eth0#x' }) },
  { what: 'CNI_IFNAME with a quote', code: 4, inv: (t) => ADD(t, { ifname: 'eth"0' }) },
  {
    what: 'CNI_IFNAME with U+FFFD (bytes that were not UTF-8)',
    code: 4,
    inv: (t) => ADD(t, { ifname: 'eth\uFFFD' }),
  },
  { what: 'CNI_CONTAINERID of 257 bytes', code: 4, inv: (t) => ADD(t, { containerId: 'c'.repeat(257) }) },
  { what: 'CNI_CONTAINERID with a newline', code: 4, inv: (t) => ADD(t, { containerId: 'abc\ndef' }) },
  { what: 'CNI_CONTAINERID not ASCII', code: 4, inv: (t) => ADD(t, { containerId: 'contéiner' }) },
  { what: 'DEL with CNI_CONTAINERID missing', code: 4, inv: (t) => DEL(t, { containerId: undefined }) },
  { what: 'CNI_NETNS with a newline', code: 4, inv: (t) => ADD(t, { netns: '/run/netns/x\ny' }) },
  { what: 'CNI_NETNS of 5000 bytes', code: 4, inv: (t) => ADD(t, { netns: '/' + 'n'.repeat(4999) }) },
  {
    what: 'CNI_ARGS with a key twice',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=a;K8S_POD_NAME=b' }),
  },
  {
    what: 'CNI_ARGS with a pod name in capitals',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=Web-0' }),
  },
  {
    what: 'CNI_ARGS with a pod UID holding a space',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=a b' }),
  },
  {
    what: 'CNI_ARGS with a control character',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0\u0007' }),
  },
  {
    what: 'CNI_ARGS with a bad infra container id',
    code: 4,
    inv: (t) => ADD(t, { args: 'K8S_POD_NAMESPACE=default;K8S_POD_INFRA_CONTAINER_ID=-x' }),
  },
  // The node's own namespace, whatever names it (issue 11, defect 1); DELs that must not block.
  {
    what: 'DEL of eth0 with CNI_NETNS the node namespace by its /run/netns path',
    code: 4,
    inv: (t) => DEL(t, { containerId: 'unknown-1', netns: t.hostNs.path }),
  },
  {
    what: 'DEL of eth0 with CNI_NETNS /proc/self/ns/net',
    code: 4,
    inv: (t) => DEL(t, { containerId: 'unknown-1', netns: '/proc/self/ns/net' }),
  },
  {
    what: 'CHECK with CNI_NETNS /proc/self/ns/net',
    code: 4,
    inv: (t) => ADD(t, { command: 'CHECK', netns: '/proc/self/ns/net', stdin: withPrev(t, prev) }),
  },
  {
    what: 'ADD with CNI_NETNS /proc/self/ns/net',
    code: 4,
    inv: (t) => ADD(t, { netns: '/proc/self/ns/net' }),
  },
  {
    what: 'GC with CNI_NETNS /proc/self/ns/net',
    code: 4,
    inv: (t) =>
      ADD(t, {
        command: 'GC',
        netns: '/proc/self/ns/net',
        stdin: t.conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] }),
      }),
  },
  {
    what: "DEL of a container nobody knows leaves the pod namespace's foreign net1 alone",
    code: 0,
    inv: (t) => DEL(t, { containerId: 'unknown-2', ifname: 'net1' }),
  },
  {
    what: "DEL of a container nobody knows, its prevResult naming the node's eth0 as our host end",
    code: 0,
    inv: (t) =>
      DEL(t, {
        containerId: 'unknown-3',
        stdin: withPrev(t, {
          interfaces: [{ name: 'eth0' }, { name: 'eth0', sandbox: t.podNs.path }],
          ips: [{ address: '10.77.0.10/24', interface: 1 }],
        }),
      }),
  },
  {
    what: 'DEL with CNI_NETNS gone',
    code: 0,
    inv: (t) => DEL(t, { containerId: 'unknown-4', netns: '/run/netns/tp-cni-nonexistent' }),
  },
  {
    what: 'DEL with CNI_NETNS a regular file (a netns file left unmounted)',
    code: 0,
    inv: (t) => DEL(t, { containerId: 'unknown-5', netns: join(t.dir, 'file') }),
  },
  {
    what: 'DEL with CNI_NETNS a mount namespace',
    code: 0,
    inv: (t) => DEL(t, { containerId: 'unknown-6', netns: `/proc/${process.pid}/ns/mnt` }),
  },
  // Addresses in prevResult, checked when parsed (issue 11, defect 4).
  {
    what: 'prevResult address 999.1.1.1/32',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, badIp('999.1.1.1/32')) }),
  },
  {
    what: 'prevResult prefix length /33',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, badIp('10.0.1.10/33')) }),
  },
  {
    what: 'prevResult octet with a leading zero',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, badIp('010.0.1.10/32')) }),
  },
  {
    what: 'prevResult IPv6 with a bad group',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, badIp('2001:db8::g/64')) }),
  },
  {
    what: 'prevResult gateway of three octets',
    code: 6,
    inv: (t) =>
      ADD(t, { stdin: withPrev(t, { ...prev, ips: [{ address: '10.0.1.10/32', gateway: '10.0.1' }] }) }),
  },
  {
    what: 'prevResult route to 300.0.0.0/8',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, { ...prev, routes: [{ dst: '300.0.0.0/8' }] }) }),
  },
  {
    what: 'prevResult nameserver that is not an address',
    code: 6,
    inv: (t) => ADD(t, { stdin: withPrev(t, { ...prev, dns: { nameservers: ['dns.example'] } }) }),
  },
  {
    what: 'CHECK with prevResult address 999.1.1.1/32',
    code: 6,
    inv: (t) => ADD(t, { command: 'CHECK', stdin: withPrev(t, badIp('999.1.1.1/32')) }),
  },
  {
    what: 'DEL with prevResult address 999.1.1.1/32 (logged; DEL must not block)',
    code: 0,
    inv: (t) => DEL(t, { stdin: withPrev(t, badIp('999.1.1.1/32')) }),
  },
  {
    what: 'DEL with prevResult a string (logged; DEL must not block)',
    code: 0,
    inv: (t) => DEL(t, { stdin: withPrev(t, 'yes') }),
  },
  // The configuration's own fields.
  { what: 'stdin not UTF-8 inside a string', code: 6, inv: (t) => ADD(t, { stdin: notUtf8(t) }) },
  { what: 'cniVersion "1.0"', code: 6, inv: (t) => ADD(t, { stdin: t.conf({ cniVersion: '1.0' }) }) },
  { what: 'lockDir relative', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ lockDir: 'locks' }) }) },
  {
    what: 'lockDir writable by others',
    code: 7,
    inv: (t) => ADD(t, { stdin: t.conf({ lockDir: join(t.dir, 'open') }) }),
  },
  {
    what: 'dns nameservers a string',
    code: 7,
    inv: (t) => ADD(t, { stdin: t.conf({ dns: { nameservers: '1.1.1.1' } }) }),
  },
  { what: 'mtu 575', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ mtu: 575 }) }) },
  { what: 'mtu not an integer', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ mtu: 1500.5 }) }) },
  { what: 'vethPrefix "eth"', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ vethPrefix: 'eth' }) }) },
  { what: 'vethPrefix with a dash', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ vethPrefix: 'e-1' }) }) },
  { what: 'socket a number', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ socket: 5 }) }) },
  { what: 'logFile relative', code: 7, inv: (t) => ADD(t, { stdin: t.conf({ logFile: 'plugin.log' }) }) },
  {
    what: 'GC with an attachment whose containerID breaks the rules',
    code: 7,
    inv: (t) =>
      ADD(t, {
        command: 'GC',
        stdin: t.conf({
          cniVersion: '1.1.0',
          'cni.dev/valid-attachments': [{ containerID: 'a b', ifname: 'eth0' }],
        }),
      }),
  },
  {
    what: 'GC with an attachment whose ifname is 16 bytes',
    code: 7,
    inv: (t) =>
      ADD(t, {
        command: 'GC',
        stdin: t.conf({
          cniVersion: '1.1.0',
          'cni.dev/attachments': [{ containerID: 'c1', ifname: 'eth0€€€€' }],
        }),
      }),
  },
];

describe('the plugin answers bad input with the right code and leaves nothing behind', () => {
  let hostNs: Netns;
  let podNs: Netns;
  let peerNs: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let env: Env;

  beforeAll(async () => {
    hostNs = Netns.create('cni');
    podNs = Netns.create('cni');
    peerNs = Netns.create('cni');
    // The node's stand-in eth0, and an interface of someone else's in the pod namespace.
    hostNs.sh(`ip link add eth0 type veth peer name up0 netns ${peerNs.name}`);
    hostNs.sh('ip addr add 10.77.0.10/24 dev eth0 && ip link set eth0 up');
    podNs.sh(`ip link add net1 type veth peer name peer1 netns ${peerNs.name}`);
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-bad-'));
    writeFileSync(join(dir, 'file'), 'not a namespace');
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(dir, 'open'));
    chmodSync(join(dir, 'open'), 0o777);
    mkdirSync(join(dir, 'locks'), { mode: 0o700 });
    daemon = await startCniDaemon(hostNs);
    const conf = (extra: object = {}) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'tidepool',
        type: 'tidepool',
        socket: daemon.socket,
        logFile: join(dir, 'plugin.log'),
        lockDir: join(dir, 'locks'),
        ...extra,
      });
    env = {
      conf,
      dir,
      hostNs,
      podNs,
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
    await peerNs?.cleanup();
    await hostNs?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has at least 45 cases, each with its expected code', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.what)).size).toBe(cases.length);
  });

  const corpus: BadInputCase<Env>[] = cases.map((c) => ({
    what: c.what,
    code: c.code,
    allocates: c.allocates,
    send: async (t) => {
      const r = await runPlugin(t.hostNs, c.inv(t));
      // Success is exit 0 and no error JSON; an error is exit 1 with the error JSON on stdout.
      if (r.code === 0) return { code: r.json?.code ?? 0 };
      expect(r.code).toBe(1);
      return { code: r.json?.code ?? -1, msg: r.json?.msg };
    },
  }));
  runCorpus(corpus, {
    env: () => env,
    leftovers: async () => [
      netState(hostNs),
      netState(podNs),
      await daemon.allocations(),
      readdirSync(join(dir, 'locks')),
    ],
    allocateCalls: () => daemon.allocateCalls(),
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
    const before = [netState(hostNs), netState(podNs), await daemon.allocations()];
    const second = await runPlugin(hostNs, { ...env.base, containerId: 'bad-input-2' });
    expect(second.json).toMatchObject({ code: 100, msg: expect.stringMatching(/File exists/) });
    expect([netState(hostNs), netState(podNs), await daemon.allocations()]).toEqual(before);
    expect((await runPlugin(hostNs, { ...env.base, command: 'DEL' })).code).toBe(0);
  });
});
