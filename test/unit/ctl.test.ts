import { listenHttp } from '../../ipamd/serve/http-listen.js';
import { introspectionHandler } from '../../ipamd/serve/introspection.js';
import { runCtl } from '../../ctl/cli.js';
import { renderStatus } from '../../ctl/status.js';
import type { Io } from '../../ctl/io.js';
import { MemoryIpam } from '../helpers/memory-ipam.js';

function capture(env: Record<string, string> = {}): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), env };
}

describe('tidepoolctl', () => {
  test('max-pods prints the kubelet figure, with the prefix variant and MAX_ENI', async () => {
    const io = capture();
    expect(await runCtl(['max-pods', 'm5.large'], io)).toBe(0);
    expect(await runCtl(['max-pods', 't3.medium'], io)).toBe(0);
    expect(await runCtl(['max-pods', 'm5.large', '--prefix-delegation'], io)).toBe(0);
    expect(await runCtl(['max-pods', 'm5.24xlarge', '--prefix-delegation'], io)).toBe(0);
    expect(await runCtl(['max-pods', 'm5.large', '--max-eni', '2'], io)).toBe(0);
    expect(io.stdout).toEqual(['29', '17', '110', '250', '20']);
  });

  test('max-pods of an unknown type or a bad option is a clear error and exit 2', async () => {
    const io = capture();
    expect(await runCtl(['max-pods', 'm5.enormous'], io)).toBe(2);
    expect(io.stderr[0]).toContain('unknown instance type "m5.enormous"');
    expect(await runCtl(['max-pods', 'm5.large', '--max-eni', 'zero'], io)).toBe(2);
    expect(io.stderr[2]).toContain('--max-eni: must be an integer between 1 and 100');
    expect(await runCtl(['max-pods'], io)).toBe(2);
    expect(io.stdout).toEqual([]);
  });

  test('config check lists every invalid variable and exits 2, or confirms a valid one', async () => {
    const bad = capture({ WARM_IP_TARGET: 'lots', TIDEPOOL_PROVIDER: 'gcp' });
    expect(await runCtl(['config', 'check'], bad)).toBe(2);
    expect(bad.stderr.join('\n')).toContain('WARM_IP_TARGET="lots"');
    expect(bad.stderr.join('\n')).toContain('TIDEPOOL_PROVIDER="gcp": must be one of sim, aws, azure');
    const good = capture({ TIDEPOOL_PROVIDER: 'sim', WARM_IP_TARGET: '5' });
    expect(await runCtl(['config', 'check'], good)).toBe(0);
    expect(good.stdout[0]).toBe('configuration is valid');
    expect(good.stdout[1]).toContain('provider sim');
  });

  test('--help describes every command; an unknown command exits 2', async () => {
    const io = capture();
    expect(await runCtl(['--help'], io)).toBe(0);
    for (const cmd of ['status', 'max-pods', 'config check', 'lab', 'demo'])
      expect(io.stdout[0]).toContain(`tidepoolctl ${cmd}`);
    expect(await runCtl(['frobnicate'], io)).toBe(2);
    expect(io.stderr[0]).toBe('tidepoolctl: unknown command "frobnicate"');
  });

  test('status reads introspection and prints totals and a table per interface', async () => {
    const ipam = new MemoryIpam();
    await ipam.allocate(
      { network: 'tidepool', containerId: 'abc', ifname: 'eth0' },
      { namespace: 'shop', name: 'cart-1', uid: 'u', netns: '/x' },
    );
    const ep = await listenHttp('127.0.0.1:0', introspectionHandler({ ipam, settings: {} }));
    try {
      const io = capture({ TIDEPOOL_INTROSPECTION_ADDR: ep.url.replace('http://', '') });
      expect(await runCtl(['status'], io)).toBe(0);
      const text = io.stdout.join('\n');
      expect(text).toContain('pool: ready');
      expect(text).toContain('1 assigned, 2 free, 0 cooling');
      expect(text).toContain('eni-0001  device 1');
    } finally {
      await ep.close();
    }
  });

  test('status renders addresses with their state, pod, and cooling time', () => {
    const lines = renderStatus(
      {
        ready: true,
        message: '',
        free: 1,
        assigned: 1,
        cooling: 1,
        total: 3,
        capacity: 29,
        interfaces: 1,
        parked: 2,
      },
      [
        {
          id: 'eni-1',
          deviceNumber: 0,
          primary: true,
          subnetCidr: '10.0.0.0/24',
          addresses: [
            { ip: '10.0.0.10', state: 'assigned' },
            { ip: '10.0.0.11', state: 'cooling', coolingUntil: new Date(31_000).toISOString() },
            { ip: '10.0.0.12', state: 'free' },
          ],
        },
      ],
      [
        {
          key: { network: 'tidepool', containerId: 'abc', ifname: 'eth0' },
          pod: { namespace: 'shop', name: 'cart-1' },
          address: '10.0.0.10',
          interfaceId: 'eni-1',
        },
      ],
      1_000,
    );
    expect(lines[1]).toContain('1 assigned, 1 free, 1 cooling (not available), 3 total of 29');
    expect(lines[1]).toContain('2 request(s) parked');
    expect(lines[3]).toBe('eni-1  device 0 (primary)  subnet 10.0.0.0/24  — 1 assigned, 1 free, 1 cooling');
    expect(lines[4].split('\n')).toEqual([
      '  ADDRESS    STATE     POD / NOTE',
      '  10.0.0.10  assigned  shop/cart-1 (eth0)',
      '  10.0.0.11  cooling   reusable in 30 s',
      '  10.0.0.12  free',
    ]);
  });

  test('status says clearly when the daemon is unreachable', async () => {
    const io = capture({ TIDEPOOL_INTROSPECTION_ADDR: '127.0.0.1:1' });
    expect(await runCtl(['status'], io)).toBe(1);
    expect(io.stderr[0]).toContain("cannot reach the daemon's introspection at http://127.0.0.1:1");
  });
});
