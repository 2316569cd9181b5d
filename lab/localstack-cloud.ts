// The lab on LocalStack (`tidepoolctl lab up --provider localstack`): the LabCloud seam (lab/cloud.ts)
// implemented on EC2's API. Everything runs in the lab's vpc namespace, never in the root namespace:
//   - LocalStack 4.14.0 (localstack/.venv), listening on 0.0.0.0:4566 of the vpc namespace; the nodes reach
//     it at their subnet gateway (the fabric answers for gateways locally), as an instance reaches EC2;
//   - a socat that bridges a Unix socket in the lab's state directory to it, so the lab's own commands
//     (launching instances, the fabric controller) reach it from any namespace;
//   - one IMDS for every node (lab/localstack-main.ts imds), which answers each request for the instance
//     whose primary address asked, from LocalStack's view of it.
// The fabric follows what DescribeNetworkInterfaces reports (PollingEventSource of lab/events.ts).
// With cloudArgs ['--ec2-fidelity'] the nodes' port 4566 is the EC2 fidelity layer (ec2-fidelity.ts) and
// LocalStack moves to 127.0.0.1:4567 behind it; the lab's own reads (IMDS, fabric) go to LocalStack
// directly, so only the nodes' calls are counted, delayed and throttled.
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DescribeImagesCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { subnetGateway } from '../config/net.js';
import type { CloudFactory, CloudProcess, LabCloud, LaunchedInstance } from './cloud.js';
import { PollingEventSource, type InterfaceSnapshot } from './events.js';
import type { Manifest } from './manifest.js';
import { normalizeMac } from '../providers/aws/convert.js';
import { seedCluster, type SeededCluster } from '../localstack/seed.js';

/** The repository (this file runs from lab/ under tsx, or bundled into dist/bin/tidepoolctl). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'localstack', 'install.sh')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const ROOT = repoRoot();
export const LAB_EC2_PORT = 4566;
export const LAB_IMDS_PORT = 8169;
const LAB_UPSTREAM_PORT = 4567;
const CLUSTER = 'tidepool-lab';

/** An EC2 client that reaches the lab's LocalStack through the Unix-socket bridge. */
export function labEc2(socketPath: string): EC2Client {
  const agent = new Agent({ keepAlive: false });
  (agent as unknown as { createConnection: () => unknown }).createConnection = () => connect(socketPath);
  return new EC2Client({
    region: 'us-east-1',
    endpoint: 'http://localstack.lab',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
    requestHandler: { httpAgent: agent },
  });
}

function healthy(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_localstack/health', method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"ec2": *"(available|running)"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function until(what: string, fn: () => Promise<boolean>, ms: number, log: string) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what}: not ready after ${ms / 1000} s (see ${log})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const localstackLabCloud: CloudFactory = (m: Manifest): LabCloud => {
  const socket = join(m.stateDir, 'ec2.sock');
  const seedFile = join(m.stateDir, 'localstack-seed.json');
  const python = join(ROOT, 'localstack', '.venv', 'bin', 'python');
  const fidelity = (m.options.cloudArgs ?? []).includes('--ec2-fidelity');
  const lsPort = fidelity ? LAB_UPSTREAM_PORT : LAB_EC2_PORT;
  const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  let ec2: EC2Client | null = null;
  const client = () => (ec2 ??= labEc2(socket));
  let seeded: SeededCluster | null = null;
  const seedNow = async () => {
    if (seeded) return seeded;
    const { readFileSync, writeFileSync } = await import('node:fs');
    if (existsSync(seedFile)) return (seeded = JSON.parse(readFileSync(seedFile, 'utf8')) as SeededCluster);
    seeded = await seedCluster(client(), { octet: 42, instanceTypes: [], clusterName: CLUSTER });
    writeFileSync(seedFile, JSON.stringify(seeded, null, 2));
    return seeded;
  };
  return {
    provider: 'localstack',
    processes: (): CloudProcess[] => [
      {
        name: 'localstack',
        argv: [python, '-m', 'localstack.runtime.main'],
        env: {
          HOME: m.stateDir,
          OVERRIDE_IN_DOCKER: '0',
          FILESYSTEM_ROOT: join(m.stateDir, 'localstack'),
          SERVICES: 'ec2',
          EAGER_SERVICE_LOADING: '1',
          GATEWAY_LISTEN: fidelity ? `127.0.0.1:${lsPort}` : `0.0.0.0:${lsPort}`,
          DNS_ADDRESS: '0',
          SKIP_SSL_CERT_DOWNLOAD: '1',
          DISABLE_EVENTS: '1',
          LOCALSTACK_TELEMETRY_DISABLED: '1',
        },
        ready: async () => {
          if (!existsSync(python)) throw new Error(`${python} is missing: run localstack/install.sh`);
        },
      },
      {
        name: 'ec2-bridge',
        argv: ['socat', `UNIX-LISTEN:${socket},fork,unlink-early`, `TCP:127.0.0.1:${lsPort}`],
        env: {},
        ready: () =>
          until('LocalStack (EC2)', () => healthy(socket), 120_000, join(m.stateDir, 'localstack.log')),
      },
      {
        name: 'imds',
        argv: [
          process.execPath,
          '--import',
          tsx,
          join(ROOT, 'lab', 'localstack-main.ts'),
          'imds',
          `0.0.0.0:${LAB_IMDS_PORT}`,
          `http://127.0.0.1:${lsPort}`,
        ],
        env: {},
        ready: async () => {},
      },
      ...(fidelity
        ? [
            {
              name: 'ec2-fidelity',
              argv: [
                process.execPath,
                '--import',
                tsx,
                join(ROOT, 'lab', 'localstack-main.ts'),
                'fidelity',
                `0.0.0.0:${LAB_EC2_PORT}`,
                `http://127.0.0.1:${lsPort}`,
                fidelitySocket(m),
              ],
              env: {},
              ready: () =>
                until(
                  'the EC2 fidelity layer',
                  async () => existsSync(fidelitySocket(m)),
                  30_000,
                  join(m.stateDir, 'ec2-fidelity.log'),
                ),
            },
          ]
        : []),
    ],
    vpcCidrs: async () => [(await seedNow()).vpcCidr],
    launchInstance: async (instanceType: string, nodeName: string): Promise<LaunchedInstance> => {
      const s = await seedNow();
      const images = await client().send(new DescribeImagesCommand({}));
      const out = await client().send(
        new RunInstancesCommand({
          ImageId: images.Images?.find((i) => i.ImageId)?.ImageId ?? 'ami-12345678',
          InstanceType: instanceType as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          SubnetId: s.nodeSubnet.id,
          SecurityGroupIds: [s.securityGroupId],
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: nodeName }] }],
        }),
      );
      const inst = out.Instances![0];
      const eni = inst.NetworkInterfaces!.find((n) => n.Attachment?.DeviceIndex === 0)!;
      return {
        instanceId: inst.InstanceId!,
        instanceType,
        primaryInterfaceId: eni.NetworkInterfaceId!,
        primaryAddress: inst.PrivateIpAddress!,
        mac: normalizeMac(eni.MacAddress ?? ''),
        subnetCidr: s.nodeSubnet.cidr,
      };
    },
    daemonEnv: () => {
      const gw = subnetGateway(seeded?.nodeSubnet.cidr ?? '10.42.0.0/20');
      return {
        TIDEPOOL_PROVIDER: 'aws',
        AWS_EC2_ENDPOINT: `http://${gw}:${LAB_EC2_PORT}`,
        TIDEPOOL_IMDS_ENDPOINT: `http://${gw}:${LAB_IMDS_PORT}`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_EC2_METADATA_DISABLED: 'true',
        CLUSTER_NAME: CLUSTER,
      };
    },
    eventSource: () =>
      new PollingEventSource(
        `LocalStack at ${socket}`,
        async () => listAttached(client(), await seedNow()),
        500,
      ),
  };
};

/** The fidelity layer's Unix socket (GET /_fidelity/counts), reachable from any namespace. */
export function fidelitySocket(m: Manifest): string {
  return join(m.stateDir, 'ec2-fidelity.sock');
}

async function listAttached(ec2: EC2Client, s: SeededCluster): Promise<InterfaceSnapshot[]> {
  const out = await ec2.send(
    new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'vpc-id', Values: [s.vpcId] }] }),
  );
  const seedCidrs = new Map([s.nodeSubnet, s.cniSubnet, s.smallSubnet].map((x) => [x.id, x.cidr]));
  return (out.NetworkInterfaces ?? [])
    .filter((n) => n.Attachment?.InstanceId && n.Attachment.Status !== 'detached')
    .map((n) => ({
      instanceId: n.Attachment!.InstanceId!,
      interfaceId: n.NetworkInterfaceId!,
      mac: normalizeMac(n.MacAddress ?? ''),
      deviceNumber: n.Attachment!.DeviceIndex ?? 0,
      subnetCidr: seedCidrs.get(n.SubnetId ?? '') ?? '',
      primaryAddress: n.PrivateIpAddress ?? '',
      addresses: (n.PrivateIpAddresses ?? []).filter((p) => !p.Primary).map((p) => p.PrivateIpAddress!),
      prefixes: (n.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix!),
    }));
}
