// The sweeper Lease's election against a tiny fake of the coordination.k8s.io Lease endpoints (GET, POST,
// PUT with resourceVersion conflicts, as the API server answers them); the real API server is in
// test/integration/kube-lease.test.ts.
import { createServer, type Server } from 'node:http';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { LeaseElector } from '../../ipamd/kube/lease.js';

const silent = { info: () => undefined, warn: () => undefined };
let server: Server;
let base = '';
let stored: any = null;
let rv = 0;
const writes: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const send = (code: number, obj: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      const status = (code: number, reason: string) =>
        send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code });
      if (req.method === 'GET') return stored ? send(200, stored) : status(404, 'NotFound');
      const obj = JSON.parse(body);
      if (req.method === 'POST') {
        if (stored) return status(409, 'AlreadyExists');
      } else if (req.method === 'PUT') {
        if (!stored || obj.metadata.resourceVersion !== stored.metadata.resourceVersion)
          return status(409, 'Conflict');
      }
      // Times must be MicroTime (six fractional digits), as the API server requires.
      for (const f of ['renewTime', 'acquireTime'])
        if (obj.spec[f] && !/\.\d{6}Z$/.test(obj.spec[f])) return status(400, `BadRequest ${f}`);
      writes.push(`${req.method} ${obj.spec.holderIdentity}`);
      stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
      send(req.method === 'POST' ? 201 : 200, stored);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function elector(identity: string, clock: { t: number }, events: string[]) {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'fake', server: base, skipTLSVerify: true }, { name: 'u' });
  return new LeaseElector({
    api: kc.makeApiClient(CoordinationV1Api),
    namespace: 'kube-system',
    name: 'tidepool-sweeper',
    identity,
    durationMs: 15_000,
    log: silent,
    now: () => clock.t,
    onStartedLeading: () => events.push(`${identity} leads`),
    onStoppedLeading: () => events.push(`${identity} stops`),
  });
}

test('one leader; the other takes over only after a whole duration without renewals; a hand-back is immediate', async () => {
  stored = null;
  const clock = { t: 1_000_000 };
  const events: string[] = [];
  const a = elector('node-a', clock, events);
  const b = elector('node-b', clock, events);
  expect(await a.tryAcquireOrRenew()).toBe(true);
  expect(await b.tryAcquireOrRenew()).toBe(false);
  // a renews; b keeps seeing new renew times, so it never takes over.
  for (let i = 0; i < 5; i++) {
    clock.t += 10_000;
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
  }
  // a stops renewing (crashed): b waits a whole duration on its own clock from when it last saw a change.
  clock.t += 10_000;
  expect(await b.tryAcquireOrRenew()).toBe(false);
  clock.t += 5_001;
  expect(await b.tryAcquireOrRenew()).toBe(true);
  expect(stored.spec).toMatchObject({ holderIdentity: 'node-b', leaseTransitions: 1 });
  // a comes back: it sees b renewing and follows.
  expect(await a.tryAcquireOrRenew()).toBe(false);
  expect(events).toEqual(['node-a leads', 'node-b leads', 'node-a stops']);
  // b hands the lease back on stop; a takes it at its next round, without waiting.
  await b.stop();
  expect(stored.spec.holderIdentity).toBe('');
  expect(await a.tryAcquireOrRenew()).toBe(true);
});

test('two candidates writing the same version: only one wins', async () => {
  stored = null;
  const clock = { t: 5_000_000 };
  const events: string[] = [];
  const [a, b] = [elector('node-a', clock, events), elector('node-b', clock, events)];
  const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
  expect(results.filter(Boolean)).toHaveLength(1);
  expect(events).toHaveLength(1);
});
