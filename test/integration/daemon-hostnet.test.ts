// The daemon with TIDEPOOL_MANAGE_HOST_NETWORK=true, run inside a network namespace this test makes (never
// the root namespace): the node's primary link is a veth carrying the MAC the sim gave the instance.
// Checks that main.ts wires the host network setup in (sysctls, MTU, rule 1024, Tidepool's nftables table)
// and still serves from the store first.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { TestNode } from '../helpers/daemon.js';
import { IpamClient } from '../helpers/ipam-client.js';

const ns = `edges-${randomBytes(4).toString('hex')}`;
const inNs = (...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
let node: TestNode | undefined;

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
});
afterAll(async () => {
  await node?.cleanup();
  execFileSync('ip', ['netns', 'del', ns]);
});

async function until(what: string, f: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('sets up the host network in its namespace (sysctls, MTU, rule 1024, nftables table) and serves', async () => {
  node = await TestNode.create({
    start: false,
    // One interface is enough: a secondary one would wait for a link that only the lab's fabric creates.
    env: {
      TIDEPOOL_MANAGE_HOST_NETWORK: 'true',
      WARM_ENI_TARGET: '0',
      WARM_IP_TARGET: '2',
      MINIMUM_IP_TARGET: '2',
    },
  });
  const inst = await node.sim.admin.launchInstance({
    instanceType: 'm5.large',
    instanceId: node.daemon.instanceId,
  });
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  // A veth pair, both ends in the namespace (this kernel has no dummy links): eth0 plays the primary ENI.
  execFileSync('ip', [
    '-n',
    ns,
    'link',
    'add',
    'eth0',
    'address',
    inst.primaryMac,
    'type',
    'veth',
    'peer',
    'name',
    'uplink',
  ]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', '1500', 'up']);
  node.daemon.wrap = ['ip', 'netns', 'exec', ns];
  await node.daemon.start({ serving: true });

  const client = new IpamClient(node.daemon.socket);
  try {
    const a = await client.allocate({
      network: 'tidepool',
      containerId: 'hn1',
      ifname: 'eth0',
      netns: '/var/run/netns/x',
    });
    expect(a.address).toMatch(/^10\.0\./);
  } finally {
    client.close();
  }
  const hasTable = () => {
    try {
      return inNs('nft', 'list', 'table', 'ip', 'tidepool').includes('table ip tidepool');
    } catch {
      return false;
    }
  };
  await until('the nftables table in the namespace', hasTable);
  expect(inNs('nft', 'list', 'table', 'ip', 'tidepool')).toContain(inst.primaryAddress);
  expect(inNs('sysctl', '-n', 'net.ipv4.ip_forward').trim()).toBe('1');
  expect(inNs('sysctl', '-n', 'net.ipv4.conf.eth0.rp_filter').trim()).toBe('2');
  const link = JSON.parse(
    execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }),
  )[0];
  expect(link.mtu).toBe(9001);
  expect(execFileSync('ip', ['-n', ns, 'rule', 'show'], { encoding: 'utf8' })).toMatch(
    /^1024:\s+from all fwmark 0x80\/0x80 lookup main/m,
  );
  expect(node.daemon.proc.log()).toContain('host network set up');
});
