// The plugin's hand-written protobuf codec must agree byte for byte with a real protobuf implementation
// reading proto/tidepool.proto, or plugin and daemon would misread each other.
import protobuf from 'protobufjs';
import path from 'node:path';
import { decode, encode, DecodeError } from '../../proto/codec.js';
import { schemas } from '../../proto/messages.js';

const root = protobuf.loadSync(path.join(process.cwd(), 'proto/tidepool.proto'));
const type = (name: string) => root.lookupType(`tidepool.v1.${name}`);

const samples: Record<string, Record<string, unknown>> = {
  AllocateRequest: {
    network: 'tidepool',
    containerId: 'a'.repeat(64),
    ifname: 'eth0',
    netns: '/var/run/netns/cni-1234',
    podNamespace: 'default',
    podName: 'web-0',
    podUid: '0b0e-ü-unicode',
  },
  AllocateResponse: {
    address: '10.0.1.23',
    deviceNumber: 2,
    routeTable: 3,
    subnetGateway: '10.0.1.1',
    subnetCidr: '10.0.1.0/24',
    mtu: 9001,
    vpcCidrs: ['10.0.0.0/16', '100.64.0.0/16'],
    interfaceId: 'eni-0123456789abcdef0',
    waitedMs: 1234567,
    reused: true,
  },
  ReleaseResponse: { released: true, address: '10.0.1.23', deviceNumber: 1, routeTable: 2 },
  GcRequest: {
    network: 'tidepool',
    valid: [
      { containerId: 'c1', ifname: 'eth0' },
      { containerId: 'c2', ifname: 'net1' },
    ],
  },
  StatusResponse: {
    ready: true,
    message: 'ok',
    free: 7,
    assigned: 4294967295,
    cooling: 1,
    total: 12,
    capacity: 27,
  },
};

describe('proto codec', () => {
  for (const [name, msg] of Object.entries(samples)) {
    const schema = schemas[name as keyof typeof schemas];

    test(`${name}: our bytes decode with protobufjs to the same message`, () => {
      const bytes = encode(schema, msg);
      const theirs = type(name).toObject(type(name).decode(bytes), { defaults: true, arrays: true });
      expect(theirs).toEqual(msg);
    });

    test(`${name}: protobufjs bytes decode with our codec to the same message`, () => {
      const bytes = type(name).encode(type(name).fromObject(msg)).finish();
      expect(decode(schema, bytes)).toEqual(msg);
    });
  }

  test('defaults decode to zero values, as proto3 requires', () => {
    expect(decode(schemas.AllocateResponse, new Uint8Array())).toEqual({
      address: '',
      deviceNumber: 0,
      routeTable: 0,
      subnetGateway: '',
      subnetCidr: '',
      mtu: 0,
      vpcCidrs: [],
      interfaceId: '',
      waitedMs: 0,
      reused: false,
    });
  });

  test('unknown fields are skipped', () => {
    const bytes = type('AllocateResponse').encode({ address: '10.0.0.9', mtu: 1500 }).finish();
    // ReleaseRequest knows fields 1–4 only; field 6 (mtu) must be ignored, field 1 read as network.
    expect(decode<{ network: string }>(schemas.ReleaseRequest, bytes).network).toBe('10.0.0.9');
  });

  test('truncated input is an error, not a silent partial message', () => {
    const bytes = encode(schemas.AllocateRequest, samples.AllocateRequest);
    expect(() => decode(schemas.AllocateRequest, bytes.subarray(0, bytes.length - 3))).toThrow(DecodeError);
  });
});
