// The daemon's socket as an operator's tools see it: grpcurl lists the services by reflection and calls them
// with no .proto in hand; grpc-health-probe (the chart's probe) reports SERVING, and NOT_SERVING once the
// daemon stops. The daemon runs in a network namespace of the test's own (the Unix socket is a file, so the
// tools reach it from here); both tools are built by scripts/setup.d/10-go-tools.sh.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { TestNode } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

const GOBIN = process.env.GOBIN ?? join(process.cwd(), '.cache/gobin');
const grpcurlBin = join(GOBIN, 'grpcurl');
const probeBin = join(GOBIN, 'grpc-health-probe');

function tool(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(bin, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

let ns: Netns;
let node: TestNode;
const grpcurl = (...args: string[]) => tool(grpcurlBin, ['-plaintext', '-unix', ...args]);

beforeAll(async () => {
  ns = Netns.create('grpc');
  node = await TestNode.create({ instanceType: 'm5.large', start: false });
  node.daemon.wrap = ['ip', 'netns', 'exec', ns.name];
  await node.daemon.start();
}, 60_000);

afterAll(async () => {
  await node?.cleanup();
  ns?.cleanup();
});

describe('grpcurl and grpc-health-probe against the daemon socket', () => {
  test('grpcurl lists the services by reflection and describes the contract', async () => {
    const list = await grpcurl(node.daemon.socket, 'list');
    expect(list.stderr).toBe('');
    expect(list.stdout.trim().split('\n').sort()).toEqual(
      expect.arrayContaining(['grpc.health.v1.Health', 'tidepool.v1.Ipam']),
    );
    const methods = await grpcurl(node.daemon.socket, 'list', 'tidepool.v1.Ipam');
    expect(methods.stdout.trim().split('\n').sort()).toEqual([
      'tidepool.v1.Ipam.Allocate',
      'tidepool.v1.Ipam.Check',
      'tidepool.v1.Ipam.Gc',
      'tidepool.v1.Ipam.Release',
      'tidepool.v1.Ipam.Status',
    ]);
    const described = await grpcurl(node.daemon.socket, 'describe', 'tidepool.v1.AllocateRequest');
    expect(described.stdout).toMatch(/string container_id = 2;/);
  });

  test('grpcurl calls Status, then Allocate and Release, and sees a bad request refused with its field', async () => {
    const status = await grpcurl('-d', '{}', node.daemon.socket, 'tidepool.v1.Ipam/Status');
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.ready).toBe(true);
    expect(s.capacity).toBeGreaterThan(0);
    const key = { network: 'tidepool', containerId: 'grpcurl01', ifname: 'eth0' };
    const alloc = await grpcurl(
      '-d',
      JSON.stringify({ ...key, netns: '/var/run/netns/grpcurl01' }),
      node.daemon.socket,
      'tidepool.v1.Ipam/Allocate',
    );
    expect(alloc.stderr).toBe('');
    expect(JSON.parse(alloc.stdout).address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const rel = await grpcurl(
      '-d',
      JSON.stringify({ ...key, reason: 'grpcurl' }),
      node.daemon.socket,
      'tidepool.v1.Ipam/Release',
    );
    expect(JSON.parse(rel.stdout).released).toBe(true);
    const bad = await grpcurl(
      '-d',
      JSON.stringify({ ...key, containerId: 'not an id', netns: '/var/run/netns/x' }),
      node.daemon.socket,
      'tidepool.v1.Ipam/Allocate',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/InvalidArgument/);
    expect(bad.stderr).toMatch(/container_id/);
  });

  test('grpc-health-probe reports SERVING over the socket, and fails once the daemon is stopped', async () => {
    const up = await tool(probeBin, [`-addr=unix://${node.daemon.socket}`]);
    expect({ code: up.code, out: (up.stdout + up.stderr).trim() }).toEqual({
      code: 0,
      out: 'status: SERVING',
    });
    const service = await tool(probeBin, [`-addr=unix://${node.daemon.socket}`, '-service=tidepool.v1.Ipam']);
    expect(service.code).toBe(0);
    await node.daemon.proc.kill('SIGTERM');
    await node.daemon.proc.exited;
    const down = await tool(probeBin, [`-addr=unix://${node.daemon.socket}`, '-connect-timeout=1s']);
    expect(down.code).not.toBe(0);
  });
});
