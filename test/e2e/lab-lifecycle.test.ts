// The lab's own promises: `lab up` builds what it says, `lab down` leaves nothing behind (no namespace,
// link, process or file) — also after `lab up` was killed halfway — and bad commands get clear errors.
// Runs as root; each lab has its own random prefix.
import { existsSync } from 'node:fs';
import { Lab, labProcesses, namespacesWithPrefix, run, sh, testPrefix } from '../helpers/lab.js';

async function rootLinks(): Promise<string[]> {
  return (JSON.parse(await sh(['ip', '-json', 'link', 'show'])) as { ifname: string }[])
    .map((l) => l.ifname)
    .sort();
}

async function expectNothingLeft(lab: Lab, linksBefore: string[]): Promise<void> {
  expect(namespacesWithPrefix(lab.prefix)).toEqual([]);
  expect(labProcesses(lab.stateDir)).toEqual([]);
  expect(existsSync(lab.stateDir)).toBe(false);
  expect(await rootLinks()).toEqual(linksBefore);
}

describe('lab lifecycle', () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    for (const l of labs) await l.down();
  }, 120_000);

  test('up builds namespaces, processes and a ready manifest; down removes every one of them', async () => {
    const lab = new Lab(testPrefix());
    labs.push(lab);
    const links = await rootLinks();
    await lab.must(['up', '--nodes', '2'], 180_000);
    const st = await lab.status();
    expect(st.ready).toBe(true);
    expect(st.nodes.map((n: any) => n.name)).toEqual(['node-1', 'node-2']);
    expect(namespacesWithPrefix(lab.prefix).sort()).toEqual(
      [`${lab.prefix}internet`, `${lab.prefix}node-1`, `${lab.prefix}node-2`, `${lab.prefix}vpc`].sort(),
    );
    expect(st.processes.map((p: any) => p.name).sort()).toEqual(
      ['fabric', 'ipamd-node-1', 'ipamd-node-2', 'sim', 'whoami-tcp', 'whoami-udp'].sort(),
    );
    expect(st.processes.every((p: any) => p.running)).toBe(true);
    // The fabric gave each node its primary interface, as the sim reported it.
    for (const n of st.nodes) {
      const eth0 = st.interfaces.find((i: any) => i.instanceId === n.instanceId && i.deviceNumber === 0);
      expect(eth0.primaryAddress).toBe(n.primaryAddress);
      const [link] = JSON.parse(await sh(['ip', '-n', n.netns, '-json', 'link', 'show', 'eth0']));
      expect(link.address).toBe(eth0.mac);
    }
    expect(await rootLinks()).toEqual(links); // the root namespace is never touched
    await lab.must(['pod', 'add', 'node-1', 'p1']);
    const down = await lab.down();
    expect(down.code).toBe(0);
    await expectNothingLeft(lab, links);
    expect((await lab.down()).code).toBe(0); // a second down has nothing to do
  }, 300_000);

  test('down after `lab up` was killed halfway still removes everything', async () => {
    const lab = new Lab(testPrefix());
    labs.push(lab);
    const links = await rootLinks();
    const up = lab.start(['up', '--nodes', '2']);
    let stderr = '';
    up.stderr!.on('data', (d) => (stderr += String(d)));
    // Kill it once the fabric controller is being started: the sim and namespaces exist, daemons not yet.
    const deadline = Date.now() + 60_000;
    while (!stderr.includes('starting the fabric controller') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(stderr).toContain('starting the fabric controller');
    up.kill('SIGKILL');
    await new Promise((r) => up.once('exit', r));
    expect(namespacesWithPrefix(lab.prefix).length).toBeGreaterThan(0);
    expect(labProcesses(lab.stateDir).length).toBeGreaterThan(0);
    const down = await lab.down();
    expect(down.code).toBe(0);
    await expectNothingLeft(lab, links);
  }, 300_000);

  test('bad commands are refused with a message naming the problem', async () => {
    const lab = new Lab(testPrefix());
    const status = await lab.run(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/no lab in .*lab up/);
    const badPrefix = await run([...lab.argv(['status']).slice(0, -4), '--prefix', 'Bad_Prefix']);
    expect(badPrefix.code).toBe(1);
    expect(badPrefix.stderr).toContain('bad lab prefix');
    const unknown = await lab.run(['launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown lab command launch');
    const nodes = await lab.run(['up', '--nodes', '0']);
    expect(nodes.code).toBe(2);
    expect(nodes.stderr).toContain('--nodes must be an integer from 1 to 16');
    const settings = await lab.run(['up', '--policy', 'greedy', '--env', 'WARM_IP_TARGET=-1']);
    expect(settings.code).toBe(1);
    expect(settings.stderr).toContain('TIDEPOOL_POOL_POLICY="greedy"');
    expect(settings.stderr).toContain('WARM_IP_TARGET="-1"');
    expect(existsSync(lab.stateDir)).toBe(false);
    expect(namespacesWithPrefix(lab.prefix)).toEqual([]);
    const podUsage = await lab.run(['pod', 'add', 'node-1']);
    expect(podUsage.code).toBe(2);
    expect((await lab.run(['down'])).code).toBe(0); // nothing to remove is not an error
  });
});
