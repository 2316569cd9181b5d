// The daemon API's bad-input corpus (the plugin's is cni-bad-input.test.ts; the shape and runner are shared:
// test/helpers/bad-input.ts). Every case is sent to the real daemon over its Unix socket, by the generated
// contract or as raw bytes for what no well-behaved client can encode, and must be answered with its gRPC
// status; after each, the daemon's allocations and pool are what they were: bad input leaves nothing behind.
// The daemon runs in a network namespace of the test's own.
import * as grpc from '@grpc/grpc-js';
import { encode } from '../../proto/codec.js';
import { schemas } from '../../proto/messages.js';
import { runCorpus, type BadInputCase, type Outcome } from '../helpers/bad-input.js';
import { TestNode } from '../helpers/daemon.js';
import { IpamClient } from '../helpers/ipam-client.js';
import { Netns } from '../helpers/netns.js';

const S = grpc.status;
let ns: Netns;
let node: TestNode;
let client: IpamClient;
let raw: grpc.Client;

/** A held allocation the corpus must never disturb. */
const HELD = { network: 'tidepool', containerId: 'held0001', ifname: 'eth0' };
const good = { ...HELD, containerId: 'corpus01', netns: '/var/run/netns/corpus01' };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return { code: 0 };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, msg: e.details };
  }
}

/** One unary call of `path` with `body` as the message bytes, whatever they are. */
function rawCall(path: string, body: Uint8Array): Promise<Outcome> {
  return new Promise((resolve) =>
    raw.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      { deadline: Date.now() + 10_000 },
      (err) => resolve(err ? { code: err.code ?? S.UNKNOWN, msg: err.details } : { code: 0 }),
    ),
  );
}

const bytes = (...parts: (Uint8Array | number[])[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const allocate = (req: Record<string, unknown>) => outcome(client.allocate({ ...good, ...req } as never));
const release = (req: Record<string, unknown>) =>
  outcome(client.release({ ...HELD, containerId: 'corpus01', reason: 'corpus', ...req } as never));
const check = (req: Record<string, unknown>) => outcome(client.check({ ...HELD, ...req } as never));
const gc = (req: Record<string, unknown>) =>
  outcome(client.gc({ network: 'other', valid: [], ...req } as never));

/** Expect the message to name the field: a case is wrong for its reason, not for any. */
function naming(field: RegExp, send: () => Promise<Outcome>): () => Promise<Outcome> {
  return async () => {
    const out = await send();
    if (out.code !== 0) expect(out.msg).toMatch(field);
    return out;
  };
}

const cases: BadInputCase<null>[] = [
  // Allocate: the key
  {
    what: 'Allocate: network empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/network/, () => allocate({ network: '' })),
  },
  {
    what: 'Allocate: network with a space',
    code: S.INVALID_ARGUMENT,
    send: naming(/network/, () => allocate({ network: 'my net' })),
  },
  {
    what: 'Allocate: network starting with a dash',
    code: S.INVALID_ARGUMENT,
    send: naming(/network/, () => allocate({ network: '-net' })),
  },
  {
    what: 'Allocate: network of 257 characters',
    code: S.INVALID_ARGUMENT,
    send: naming(/network/, () => allocate({ network: 'n'.repeat(257) })),
  },
  {
    what: 'Allocate: container_id empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/container_id/, () => allocate({ containerId: '' })),
  },
  {
    what: 'Allocate: container_id with a path',
    code: S.INVALID_ARGUMENT,
    send: naming(/container_id/, () => allocate({ containerId: 'c/../x' })),
  },
  {
    what: 'Allocate: container_id not ASCII',
    code: S.INVALID_ARGUMENT,
    send: naming(/container_id/, () => allocate({ containerId: 'cü1' })),
  },
  {
    what: 'Allocate: ifname empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: '' })),
  },
  {
    what: 'Allocate: ifname "."',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: '.' })),
  },
  {
    what: 'Allocate: ifname ".."',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: '..' })),
  },
  {
    what: 'Allocate: ifname with a space',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: 'eth 0' })),
  },
  {
    what: 'Allocate: ifname with a slash',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: 'a/b' })),
  },
  {
    what: 'Allocate: ifname with a colon',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: 'eth0:1' })),
  },
  {
    what: 'Allocate: ifname of 16 bytes',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => allocate({ ifname: 'e'.repeat(16) })),
  },
  {
    what: 'Allocate: ifname of 8 characters, 16 bytes',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname.*bytes/, () => allocate({ ifname: 'éééééééé' })),
  },
  // Allocate: the pod
  {
    what: 'Allocate: netns empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/netns/, () => allocate({ netns: '' })),
  },
  {
    what: 'Allocate: netns with a newline',
    code: S.INVALID_ARGUMENT,
    send: naming(/netns/, () => allocate({ netns: '/run/netns/a\nb' })),
  },
  {
    what: 'Allocate: pod_namespace in capitals',
    code: S.INVALID_ARGUMENT,
    send: naming(/pod_namespace/, () => allocate({ podNamespace: 'Default' })),
  },
  {
    what: 'Allocate: pod_name with an underscore',
    code: S.INVALID_ARGUMENT,
    send: naming(/pod_name/, () => allocate({ podName: 'web_0' })),
  },
  {
    what: 'Allocate: pod_uid of 129 characters',
    code: S.INVALID_ARGUMENT,
    send: naming(/pod_uid/, () => allocate({ podUid: 'u'.repeat(129) })),
  },
  {
    what: 'Allocate: pod_uid with a control character',
    code: S.INVALID_ARGUMENT,
    send: naming(/pod_uid/, () => allocate({ podUid: 'a\u0001b' })),
  },
  // Allocate: bytes no encoder makes
  {
    what: 'Allocate: pod_uid not valid UTF-8',
    code: S.INVALID_ARGUMENT,
    send: naming(/UTF-8/, () =>
      rawCall('/tidepool.v1.Ipam/Allocate', bytes(encode(schemas.AllocateRequest, good), [0x3a, 1, 0xff])),
    ),
  },
  {
    what: 'Allocate: network not valid UTF-8',
    code: S.INVALID_ARGUMENT,
    send: naming(/UTF-8/, () =>
      rawCall(
        '/tidepool.v1.Ipam/Allocate',
        bytes([0x0a, 2, 0xc3, 0x28], encode(schemas.AllocateRequest, { ...good, network: '' })),
      ),
    ),
  },
  {
    what: 'Allocate: a truncated message',
    code: S.INVALID_ARGUMENT,
    send: () => rawCall('/tidepool.v1.Ipam/Allocate', encode(schemas.AllocateRequest, good).subarray(0, 7)),
  },
  {
    what: 'Allocate: a length past the end',
    code: S.INVALID_ARGUMENT,
    send: () => rawCall('/tidepool.v1.Ipam/Allocate', bytes([0x0a, 0x7f, 0x61])),
  },
  {
    what: 'Allocate: a message over the size limit',
    code: S.RESOURCE_EXHAUSTED,
    send: () => allocate({ podUid: 'x'.repeat(2 << 20) }),
  },
  // Release
  {
    what: 'Release: network empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/network/, () => release({ network: '' })),
  },
  {
    what: 'Release: container_id with a space',
    code: S.INVALID_ARGUMENT,
    send: naming(/container_id/, () => release({ containerId: 'a b' })),
  },
  {
    what: 'Release: ifname of 16 bytes',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => release({ ifname: 'x'.repeat(16) })),
  },
  {
    what: 'Release: reason with a control character',
    code: S.INVALID_ARGUMENT,
    send: naming(/reason/, () => release({ reason: 'a\u0007' })),
  },
  {
    what: 'Release: reason of 300 characters',
    code: S.INVALID_ARGUMENT,
    send: naming(/reason/, () => release({ reason: 'r'.repeat(300) })),
  },
  {
    what: 'Release: an unknown attachment is not an error (DEL is idempotent)',
    code: 0,
    send: () => release({}),
  },
  // Check
  {
    what: 'Check: ifname ".."',
    code: S.INVALID_ARGUMENT,
    send: naming(/ifname/, () => check({ ifname: '..' })),
  },
  {
    what: 'Check: container_id empty',
    code: S.INVALID_ARGUMENT,
    send: naming(/container_id/, () => check({ containerId: '' })),
  },
  {
    what: 'Check: an unknown attachment answers found=false',
    code: 0,
    send: () => check({ containerId: 'nobody01' }),
  },
  // Gc
  { what: 'Gc: network empty', code: S.INVALID_ARGUMENT, send: naming(/network/, () => gc({ network: '' })) },
  {
    what: 'Gc: valid[0].container_id with a slash',
    code: S.INVALID_ARGUMENT,
    send: naming(/valid\[0\]\.container_id/, () => gc({ valid: [{ containerId: 'a/b', ifname: 'eth0' }] })),
  },
  {
    what: 'Gc: valid[1].ifname of 16 bytes',
    code: S.INVALID_ARGUMENT,
    send: naming(/valid\[1\]\.ifname/, () =>
      gc({
        valid: [
          { containerId: 'c1', ifname: 'eth0' },
          { containerId: 'c2', ifname: 'i'.repeat(16) },
        ],
      }),
    ),
  },
  {
    what: 'Gc: a nested string not valid UTF-8',
    code: S.INVALID_ARGUMENT,
    send: naming(/UTF-8/, () =>
      rawCall(
        '/tidepool.v1.Ipam/Gc',
        bytes(encode(schemas.GcRequest, { network: 'other', valid: [] }), [0x12, 3, 0x0a, 1, 0xff]),
      ),
    ),
  },
  { what: 'Gc of another network releases nothing of this one', code: 0, send: () => gc({}) },
  // Status, unknown methods, health
  {
    what: 'Status: bytes that are not a message',
    code: S.INVALID_ARGUMENT,
    send: () => rawCall('/tidepool.v1.Ipam/Status', bytes([0xff, 0xff])),
  },
  {
    what: 'an unknown method',
    code: S.UNIMPLEMENTED,
    send: naming(/Nope/, () => rawCall('/tidepool.v1.Ipam/Nope', new Uint8Array())),
  },
  {
    what: 'an unknown service',
    code: S.UNIMPLEMENTED,
    send: () => rawCall('/tidepool.v2.Ipam/Allocate', new Uint8Array()),
  },
  {
    what: 'Health: an unknown service name',
    code: S.NOT_FOUND,
    send: () => outcome(client.healthCheck('tidepool.v9.Nothing')),
  },
];

beforeAll(async () => {
  ns = Netns.create('grpcbad');
  node = await TestNode.create({ instanceType: 'm5.large', start: false, env: { WARM_IP_TARGET: '3' } });
  node.daemon.wrap = ['ip', 'netns', 'exec', ns.name];
  await node.daemon.start();
  client = new IpamClient(node.daemon.socket);
  raw = new grpc.Client(`unix:${node.daemon.socket}`, grpc.credentials.createInsecure());
  await client.allocate({ ...HELD, netns: '/var/run/netns/held', podNamespace: '', podName: '', podUid: '' });
}, 60_000);

afterAll(async () => {
  client?.close();
  raw?.close();
  await node?.cleanup();
  ns?.cleanup();
});

test('the corpus has its cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(40);
});

runCorpus(cases, {
  env: () => null,
  // What bad input must never change: the held allocation, and the number of addresses assigned.
  leftovers: async () => {
    const held = await client.check(HELD);
    const status = await client.status();
    return { held: held.found ? held.address : null, assigned: status.assigned };
  },
});
