// Seeds LocalStack's EC2 with a cluster's network: a VPC, subnets in two zones (the nodes' subnet, a
// discovery subnet tagged kubernetes.io/role/cni=1, and a /28 in the second zone, tagged too, small enough
// to run out), a security group, and instances of the chosen types in the nodes' subnet.
//
//   node --import tsx localstack/seed.ts [--types m5.large,t3.medium] [--octet 20] [--endpoint URL]
// prints the ids as JSON. Tests call seedCluster() directly, each with its own VPC, so they never collide.
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';

export interface SeedOptions {
  /** Second octet of the VPC CIDR (10.<octet>.0.0/16). */
  octet: number;
  instanceTypes: string[];
  clusterName?: string;
  region?: string;
}

export interface SeededInstance {
  instanceId: string;
  instanceType: string;
  primaryInterfaceId: string;
  primaryAddress: string;
}

export interface SeededCluster {
  region: string;
  vpcId: string;
  vpcCidr: string;
  zones: [string, string];
  /** The nodes' own subnet (zone a). */
  nodeSubnet: { id: string; cidr: string };
  /** Zone a, tagged kubernetes.io/role/cni=1. */
  cniSubnet: { id: string; cidr: string };
  /** Zone b, a /28 tagged for discovery: 11 usable addresses, runs out quickly. */
  smallSubnet: { id: string; cidr: string };
  securityGroupId: string;
  instances: SeededInstance[];
}

export function ec2For(endpoint: string, region = 'us-east-1'): EC2Client {
  return new EC2Client({
    region,
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
  });
}

export async function seedCluster(ec2: EC2Client, opts: SeedOptions): Promise<SeededCluster> {
  const region = opts.region ?? 'us-east-1';
  const zones: [string, string] = [`${region}a`, `${region}b`];
  const net = `10.${opts.octet}`;
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: `${net}.0.0/16` }));
  const vpcId = vpc.Vpc!.VpcId!;
  await ec2.send(
    new CreateTagsCommand({ Resources: [vpcId], Tags: [{ Key: 'Name', Value: `tidepool-${opts.octet}` }] }),
  );
  const subnet = async (cidr: string, zone: string, tags: Record<string, string>) => {
    const s = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: zone }),
    );
    const id = s.Subnet!.SubnetId!;
    await ec2.send(
      new CreateTagsCommand({
        Resources: [id],
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return { id, cidr };
  };
  const nodeSubnet = await subnet(`${net}.0.0/20`, zones[0], { Name: 'nodes' });
  const cniSubnet = await subnet(`${net}.16.0/22`, zones[0], { Name: 'pods', 'kubernetes.io/role/cni': '1' });
  const smallSubnet = await subnet(`${net}.32.0/28`, zones[1], {
    Name: 'small',
    'kubernetes.io/role/cni': '1',
  });
  const sg = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: `tidepool-nodes-${opts.octet}`,
      Description: 'Tidepool nodes',
      VpcId: vpcId,
    }),
  );
  const securityGroupId = sg.GroupId!;
  const images = await ec2.send(new DescribeImagesCommand({}));
  const imageId = images.Images?.find((i) => i.ImageId)?.ImageId ?? 'ami-12345678';
  const instances: SeededInstance[] = [];
  for (const type of opts.instanceTypes) {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: type as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: nodeSubnet.id,
        SecurityGroupIds: [securityGroupId],
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'Name', Value: `node-${type}` },
              ...(opts.clusterName
                ? [{ Key: `kubernetes.io/cluster/${opts.clusterName}`, Value: 'owned' }]
                : []),
            ],
          },
        ],
      }),
    );
    const inst = out.Instances![0];
    const eni = inst.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0);
    instances.push({
      instanceId: inst.InstanceId!,
      instanceType: type,
      primaryInterfaceId: eni?.NetworkInterfaceId ?? '',
      primaryAddress: inst.PrivateIpAddress ?? '',
    });
  }
  return {
    region,
    vpcId,
    vpcCidr: `${net}.0.0/16`,
    zones,
    nodeSubnet,
    cniSubnet,
    smallSubnet,
    securityGroupId,
    instances,
  };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : def;
  };
  const endpoint = arg(
    'endpoint',
    process.env.AWS_ENDPOINT_URL_EC2 || `http://127.0.0.1:${process.env.LOCALSTACK_PORT || 4566}`,
  );
  const octet = Number(arg('octet', '20'));
  if (!Number.isInteger(octet) || octet < 0 || octet > 255)
    throw new Error(`--octet must be 0..255, got ${octet}`);
  const seeded = await seedCluster(ec2For(endpoint, arg('region', 'us-east-1')), {
    octet,
    instanceTypes: arg('types', 'm5.large').split(',').filter(Boolean),
    clusterName: arg('cluster', '') || undefined,
    region: arg('region', 'us-east-1'),
  });
  process.stdout.write(JSON.stringify(seeded, null, 2) + '\n');
}

// Run as a script only (not when bundled into another executable, where import.meta.url is that file's).
if (/[/\\]localstack[/\\]seed\.ts$/.test(process.argv[1] ?? '')) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`seed: ${err.message}\n`);
    process.exit(1);
  });
}
