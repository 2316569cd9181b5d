// The chart against a real kube-apiserver v1.37.2 with etcd (in a network namespace of the test): the
// rendered manifests apply with server-side dry-run, `helm install` installs the chart, the rendered RBAC
// checked by impersonation allows every call the daemon makes and nothing else asked about (Secrets, pod
// deletion, other namespaces' Leases), and the ValidatingAdmissionPolicy, with a real service-account token
// bound to a node, lets the daemon change its own node's taint and condition but refuses another node, a
// label, and another condition. Needs the binaries scripts/setup.sh builds (fails naming them without).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ControlPlane } from '../../lab/k8s/control-plane.js';
import { Netns } from '../helpers/netns.js';

const SA = 'system:serviceaccount:kube-system:tidepool';

describe('the chart on a real apiserver', () => {
  let ns: Netns;
  let dir: string;
  let cp: ControlPlane;

  beforeAll(async () => {
    ns = Netns.create('k8sapi');
    dir = mkdtempSync(join(tmpdir(), 'tp-k8s-api-'));
    cp = new ControlPlane({ netnsPath: ns.path, dir, address: '127.0.0.1' });
    await cp.up({ apiOnly: true });
  }, 300_000);
  afterAll(async () => {
    await cp?.down();
    await ns?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the plain manifests with server-side dry-run', () => {
    const r = cp.kubectl([
      'apply',
      '--server-side',
      '--dry-run=server',
      '-f',
      resolve('deploy/manifests/tidepool.yaml'),
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const o of [
      'daemonset.apps/tidepool',
      'clusterrole.rbac.authorization.k8s.io/tidepool',
      'validatingadmissionpolicy.admissionregistration.k8s.io/tidepool-own-node',
      'customresourcedefinition.apiextensions.k8s.io/eniconfigs.crd.k8s.amazonaws.com',
    ])
      expect(r.stdout).toContain(`${o} serverside-applied (server dry run)`);
  });

  it('installs with helm, and the ENIConfig CRD validates objects', () => {
    const r = cp.helm([
      'install',
      'tidepool',
      resolve('deploy/chart/tidepool'),
      '-n',
      'kube-system',
      '--wait=false',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('STATUS: deployed');
    cp.kc(['wait', '--for=condition=Established', 'crd/eniconfigs.crd.k8s.amazonaws.com', '--timeout=60s']);
    const ok = cp.kubectl(
      ['apply', '--dry-run=server', '-f', '-'],
      JSON.stringify({
        apiVersion: 'crd.k8s.amazonaws.com/v1alpha1',
        kind: 'ENIConfig',
        metadata: { name: 'us-east-1a' },
        spec: { subnet: 'subnet-0123', securityGroups: ['sg-1'] },
      }),
    );
    expect(ok.status).toBe(0);
    const bad = cp.kubectl(
      ['apply', '--dry-run=server', '-f', '-'],
      JSON.stringify({
        apiVersion: 'crd.k8s.amazonaws.com/v1alpha1',
        kind: 'ENIConfig',
        metadata: { name: 'bad' },
        spec: { subnet: 42 },
      }),
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('spec.subnet');
  });

  it('grants every call the daemon makes, by impersonation, and nothing asked about beyond', () => {
    const can = (...args: string[]) => cp.kubectl(['auth', 'can-i', ...args, `--as=${SA}`]).stdout.trim();
    const allowed = [
      ['get', 'nodes'],
      ['watch', 'nodes'],
      ['patch', 'nodes'],
      ['patch', 'nodes', '--subresource=status'],
      ['list', 'pods'],
      ['watch', 'pods'],
      ['create', 'events'],
      ['patch', 'events'],
      ['create', 'events.events.k8s.io'],
      ['get', 'eniconfigs.crd.k8s.amazonaws.com'],
      ['list', 'eniconfigs.crd.k8s.amazonaws.com'],
      ['watch', 'eniconfigs.crd.k8s.amazonaws.com'],
      ['get', 'leases.coordination.k8s.io', '-n', 'kube-system'],
      ['create', 'leases.coordination.k8s.io', '-n', 'kube-system'],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-system'],
    ];
    for (const a of allowed) expect([a.join(' '), can(...a)]).toEqual([a.join(' '), 'yes']);
    const refused = [
      ['get', 'secrets', '-n', 'kube-system'],
      ['list', 'secrets', '-A'],
      ['delete', 'pods'],
      ['delete', 'nodes'],
      ['create', 'nodes'],
      ['update', 'nodes'],
      ['patch', 'pods'],
      ['create', 'pods/exec'],
      ['update', 'leases.coordination.k8s.io', '-n', 'default'],
      ['create', 'eniconfigs.crd.k8s.amazonaws.com'],
    ];
    for (const a of refused) expect([a.join(' '), can(...a)]).toEqual([a.join(' '), 'no']);
  });

  it("lets a node-bound token change only its own node's taint and NetworkReady condition", async () => {
    for (const n of ['node-a', 'node-b'])
      cp.kc(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n, labels: { x: '1' } } }),
      );
    const uid = cp.kc(['get', 'node', 'node-a', '-o', 'jsonpath={.metadata.uid}']).trim();
    const token = cp
      .kc([
        'create',
        'token',
        'tidepool',
        '-n',
        'kube-system',
        '--bound-object-kind=Node',
        '--bound-object-name=node-a',
        `--bound-object-uid=${uid}`,
      ])
      .trim();
    const kc = cp.kubeconfig(join(dir, 'tidepool.kubeconfig'), { token });
    const as = (args: string[]) => cp.kubectl(args, undefined, kc);
    // The apiserver registers nodes with node.kubernetes.io/not-ready; the daemon keeps every other taint
    // (a merge patch replaces the whole list), as a read-modify-write.
    const OURS = { key: 'tidepool.io/network-unavailable', effect: 'NoSchedule' };
    const taintsOf = (node: string): any[] =>
      JSON.parse(cp.kc(['get', 'node', node, '-o', 'json'])).spec.taints ?? [];
    const withTaint = (node: string, t: object) =>
      JSON.stringify({ spec: { taints: [...taintsOf(node).filter((x) => x.key !== OURS.key), t] } });
    const without = (node: string) =>
      JSON.stringify({ spec: { taints: taintsOf(node).filter((x) => x.key !== OURS.key) } });
    // The policy is enforced once the apiserver has compiled it: wait until another node is refused.
    let other = as(['patch', 'node', 'node-b', '--type=merge', '-p', withTaint('node-b', OURS)]);
    for (let i = 0; other.status === 0 && i < 40; i++) {
      await new Promise((r) => setTimeout(r, 500));
      cp.kc(['patch', 'node', 'node-b', '--type=merge', '-p', without('node-b')]);
      other = as(['patch', 'node', 'node-b', '--type=merge', '-p', withTaint('node-b', OURS)]);
    }
    expect(other.status).not.toBe(0);
    expect(other.stderr).toContain(
      'tidepool may change only its own node (token bound to node node-a), not node-b',
    );
    const own = as(['patch', 'node', 'node-a', '--type=merge', '-p', withTaint('node-a', OURS)]);
    expect(own.stderr).toBe('');
    expect(own.status).toBe(0);
    expect(taintsOf('node-a').map((t) => t.key)).toContain(OURS.key);
    const untaint = as(['patch', 'node', 'node-a', '--type=merge', '-p', without('node-a')]);
    expect(untaint.stderr).toBe('');
    expect(taintsOf('node-a').map((t) => t.key)).not.toContain(OURS.key);
    const otherTaint = as([
      'patch',
      'node',
      'node-a',
      '--type=merge',
      '-p',
      withTaint('node-a', { key: 'example.com/other', effect: 'NoSchedule' }),
    ]);
    expect(otherTaint.stderr).toContain('tidepool may change only its own taint');
    // Dropping the apiserver's not-ready taint along with ours is refused too.
    const dropAll = as(['patch', 'node', 'node-a', '--type=merge', '-p', '{"spec":{"taints":[]}}']);
    expect(dropAll.stderr).toContain('tidepool may change only its own taint');
    const label = as(['patch', 'node', 'node-a', '--type=merge', '-p', '{"metadata":{"labels":{"x":"2"}}}']);
    expect(label.stderr).toContain("may not change a node's labels");
    const cond = (type: string) =>
      JSON.stringify({
        status: {
          conditions: [
            {
              type,
              status: 'True',
              reason: 'PoolReady',
              message: '5 of 10 free',
              lastHeartbeatTime: new Date().toISOString(),
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      });
    // The daemon PATCHes nodes/status directly (no GET first, which kubectl would need): curl does the same.
    const patchStatus = (node: string, type: string) => {
      const r = spawnSync(
        'nsenter',
        [
          `--net=${ns.path}`,
          'curl',
          '-sS',
          '--cacert',
          join(cp.pki, 'ca.crt'),
          '-X',
          'PATCH',
          '-H',
          `Authorization: Bearer ${token}`,
          '-H',
          'Content-Type: application/strategic-merge-patch+json',
          '--data-binary',
          cond(type),
          `${cp.url}/api/v1/nodes/${node}/status`,
        ],
        { encoding: 'utf8' },
      );
      return JSON.parse(r.stdout);
    };
    const ready = patchStatus('node-a', 'tidepool.io/NetworkReady');
    expect(ready.kind).toBe('Node');
    expect(ready.status.conditions.find((c: any) => c.type === 'tidepool.io/NetworkReady')).toMatchObject({
      status: 'True',
      message: '5 of 10 free',
    });
    const foreign = patchStatus('node-a', 'Ready');
    expect(foreign.message).toContain('tidepool may change only the tidepool.io/NetworkReady condition');
    const otherStatus = patchStatus('node-b', 'tidepool.io/NetworkReady');
    expect(otherStatus.message).toContain('only its own node');
    // The token is the daemon's: the same change is refused to a token bound to no node.
    const unbound = cp.kc(['create', 'token', 'tidepool', '-n', 'kube-system']).trim();
    const kc2 = cp.kubeconfig(join(dir, 'unbound.kubeconfig'), { token: unbound });
    const r = cp.kubectl(
      ['patch', 'node', 'node-a', '--type=merge', '-p', withTaint('node-a', OURS)],
      undefined,
      kc2,
    );
    expect(r.stderr).toContain('token bound to node <none>');
    writeFileSync(join(dir, 'done'), '');
  });
});
