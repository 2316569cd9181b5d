// Prefix delegation at the SDK boundary. Neither moto nor LocalStack implements /28 prefixes (reference
// cni-spec-and-test-tools.md 5.2), so this test answers EC2's Query API itself: a local HTTP server that
// speaks EC2's XML (element names of the EC2 API reference, version 2016-11-15) for the four calls the
// prefix path makes, and records what the real @aws-sdk/client-ec2 sent. A mock by necessity: nothing that
// runs here implements Ipv4PrefixCount.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnauthorizedError } from '../../providers/errors.js';
import { awsProvider, staticImds } from '../helpers/imds.js';

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const ENI = 'eni-0abc';
interface Eni {
  primary: string;
  addresses: string[];
  prefixes: string[];
}

class FakeEc2 {
  server!: Server;
  url = '';
  requests: URLSearchParams[] = [];
  eni: Eni = { primary: '10.0.0.10', addresses: [], prefixes: [] };
  /** Prefixes handed out next; empty = the subnet has no free /28 (InsufficientCidrBlocks). */
  freePrefixes = ['10.0.16.32/28', '10.0.16.48/28', '10.0.16.64/28'];
  freeAddresses = ['10.0.0.20', '10.0.0.21', '10.0.0.22'];
  /** Actions the node's IAM role may not call. */
  denied = new Set<string>();

  async start() {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const p = new URLSearchParams(body);
        this.requests.push(p);
        const [status, xml] = this.answer(p);
        res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private answer(p: URLSearchParams): [number, string] {
    const action = p.get('Action')!;
    const wrap = (inner: string) =>
      `<${action}Response xmlns="${NS}"><requestId>r-${this.requests.length}</requestId>${inner}</${action}Response>`;
    const items = (tag: string, xs: string[]) => xs.map((x) => `<item><${tag}>${x}</${tag}></item>`).join('');
    if (this.denied.has(action))
      return [
        403,
        `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform ` +
          `this operation.</Message></Error></Errors><RequestID>r-${this.requests.length}</RequestID></Response>`,
      ];
    switch (action) {
      case 'DescribeInstanceTypes':
        return [200, wrap('<instanceTypeSet/>')]; // the provider falls back to its shipped table
      case 'DescribeNetworkInterfaces': {
        const e = this.eni;
        const ips = [`<item><privateIpAddress>${e.primary}</privateIpAddress><primary>true</primary></item>`]
          .concat(
            e.addresses.map(
              (a) => `<item><privateIpAddress>${a}</privateIpAddress><primary>false</primary></item>`,
            ),
          )
          .join('');
        return [
          200,
          wrap(
            `<networkInterfaceSet><item><networkInterfaceId>${ENI}</networkInterfaceId><subnetId>subnet-1</subnetId>` +
              `<vpcId>vpc-1</vpcId><availabilityZone>us-east-1a</availabilityZone><status>in-use</status>` +
              `<macAddress>02:00:00:00:00:01</macAddress><privateIpAddress>${e.primary}</privateIpAddress>` +
              `<attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-1</instanceId>` +
              `<deviceIndex>0</deviceIndex><status>attached</status></attachment>` +
              `<privateIpAddressesSet>${ips}</privateIpAddressesSet>` +
              `<ipv4PrefixSet>${items('ipv4Prefix', e.prefixes)}</ipv4PrefixSet><tagSet/></item></networkInterfaceSet>`,
          ),
        ];
      }
      case 'AssignPrivateIpAddresses': {
        const prefixCount = Number(p.get('Ipv4PrefixCount') ?? 0);
        if (prefixCount) {
          if (this.freePrefixes.length < prefixCount)
            return [
              400,
              `<Response><Errors><Error><Code>InsufficientCidrBlocks</Code><Message>The specified subnet does ` +
                `not have enough free cidr blocks to satisfy the request.</Message></Error></Errors>` +
                `<RequestID>r-${this.requests.length}</RequestID></Response>`,
            ];
          const got = this.freePrefixes.splice(0, prefixCount);
          this.eni.prefixes.push(...got);
          return [
            200,
            wrap(
              `<networkInterfaceId>${ENI}</networkInterfaceId><assignedIpv4PrefixSet>${items('ipv4Prefix', got)}</assignedIpv4PrefixSet>`,
            ),
          ];
        }
        const got = this.freeAddresses.splice(0, Number(p.get('SecondaryPrivateIpAddressCount')));
        this.eni.addresses.push(...got);
        return [
          200,
          wrap(
            `<networkInterfaceId>${ENI}</networkInterfaceId>` +
              `<assignedPrivateIpAddressesSet>${items('privateIpAddress', got)}</assignedPrivateIpAddressesSet>`,
          ),
        ];
      }
      case 'UnassignPrivateIpAddresses': {
        const list = (k: string) => [...p.entries()].filter(([n]) => n.startsWith(k)).map(([, v]) => v);
        const prefixes = list('Ipv4Prefix.');
        const addrs = list('PrivateIpAddress.');
        this.eni.prefixes = this.eni.prefixes.filter((x) => !prefixes.includes(x));
        this.eni.addresses = this.eni.addresses.filter((x) => !addrs.includes(x));
        return [200, wrap('<return>true</return>')];
      }
    }
    return [
      400,
      `<Response><Errors><Error><Code>InvalidAction</Code><Message>${action}</Message></Error></Errors></Response>`,
    ];
  }
}

const view = {
  instanceId: 'i-1',
  instanceType: 'm5.large',
  imageId: 'ami-1',
  zone: 'us-east-1a',
  region: 'us-east-1',
  localIpv4: '10.0.0.10',
  primaryMac: '02:00:00:00:00:01',
  enis: [
    {
      mac: '02:00:00:00:00:01',
      interfaceId: ENI,
      deviceNumber: 0,
      subnetId: 'subnet-1',
      subnetCidr: '10.0.0.0/16',
      vpcId: 'vpc-1',
      vpcCidrs: ['10.0.0.0/16'],
      securityGroupIds: ['sg-1'],
      securityGroupNames: ['nodes'],
      localIpv4s: ['10.0.0.10'],
      ipv4Prefixes: [],
      ownerId: '111122223333',
    },
  ],
};

test('prefixes: Ipv4PrefixCount on the wire, /28s from assignedIpv4PrefixSet/ipv4PrefixSet, Ipv4Prefix.N to release, /32 fallback on InsufficientCidrBlocks', async () => {
  const ec2 = new FakeEc2();
  await ec2.start();
  const imds = await staticImds(view);
  const provider = awsProvider(ec2.url, imds.url, { ENABLE_PREFIX_DELEGATION: 'true', CLUSTER_NAME: '' });
  try {
    const got = await provider.assignPrefixes(ENI, 2);
    expect(got).toEqual(['10.0.16.32/28', '10.0.16.48/28']);
    const assign = ec2.requests.find((r) => r.get('Action') === 'AssignPrivateIpAddresses')!;
    expect(assign.get('NetworkInterfaceId')).toBe(ENI);
    expect(assign.get('Ipv4PrefixCount')).toBe('2');
    expect(assign.has('SecondaryPrivateIpAddressCount')).toBe(false);

    await provider.releasePrefixes(ENI, ['10.0.16.32/28']);
    const unassign = ec2.requests.filter((r) => r.get('Action') === 'UnassignPrivateIpAddresses').pop()!;
    expect(unassign.get('Ipv4Prefix.1')).toBe('10.0.16.32/28');
    expect(unassign.has('PrivateIpAddress.1')).toBe(false);

    // The subnet runs out of /28 blocks: single addresses, one slot each, reported as /32 prefixes.
    ec2.freePrefixes = [];
    const fallback = await provider.assignPrefixes(ENI, 2);
    expect(fallback).toEqual(['10.0.0.20/32', '10.0.0.21/32']);
    const last = ec2.requests.filter((r) => r.get('Action') === 'AssignPrivateIpAddresses').slice(-2);
    expect(last.map((r) => r.get('Ipv4PrefixCount'))).toEqual(['2', null]);
    expect(last[1].get('SecondaryPrivateIpAddressCount')).toBe('2');
    const [iface] = await provider.listInterfaces();
    expect(iface.prefixes.sort()).toEqual(['10.0.0.20/32', '10.0.0.21/32', '10.0.16.48/28']);
    expect(iface.addresses).toEqual([]);
    // Releasing a /32 "prefix" releases the address.
    await provider.releasePrefixes(ENI, ['10.0.0.20/32']);
    const un = ec2.requests.filter((r) => r.get('Action') === 'UnassignPrivateIpAddresses').pop()!;
    expect(un.get('PrivateIpAddress.1')).toBe('10.0.0.20');
    expect(ec2.eni.addresses).toEqual(['10.0.0.21']);
  } finally {
    await provider.close();
    await imds.close();
    await new Promise<void>((r) => ec2.server.close(() => r()));
  }
});

test('UnauthorizedOperation becomes an UnauthorizedError naming the missing permission, logged once', async () => {
  const ec2 = new FakeEc2();
  await ec2.start();
  ec2.denied.add('AssignPrivateIpAddresses');
  const imds = await staticImds(view);
  const logged: { obj: object; msg: string }[] = [];
  const log = {
    info: () => {},
    warn: () => {},
    error: (obj: object, msg: string) => logged.push({ obj, msg }),
  };
  const provider = awsProvider(ec2.url, imds.url, {}, { log });
  try {
    for (let i = 0; i < 3; i++) {
      const err = await provider.assignAddresses(ENI, 1).catch((e: Error) => e);
      expect(err).toBeInstanceOf(UnauthorizedError);
      expect((err as Error).message).toContain('ec2:AssignPrivateIpAddresses');
    }
    expect(logged).toHaveLength(1);
    expect(logged[0].obj).toMatchObject({ permission: 'ec2:AssignPrivateIpAddresses' });
    // One attempt per call: the SDK does not retry, and nothing retries a permission error.
    expect(ec2.requests.filter((r) => r.get('Action') === 'AssignPrivateIpAddresses')).toHaveLength(3);
  } finally {
    await provider.close();
    await imds.close();
    await new Promise<void>((r) => ec2.server.close(() => r()));
  }
});
