// The chart in deploy/: helm lint; the generated files (values.schema.json, the add-on configuration schema,
// the plain manifests) are what the generator makes from the chart and config/settings.ts now; the schema
// is a closed, typed set of the daemon's own variable names, enforced by helm itself; the chart's defaults
// are settings the daemon accepts; the dashboard and the IAM policy cover what the daemon exports and calls.
// Needs the helm binary the setup step builds (scripts/k8s/build.sh); it fails, naming it, without.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadSettings, SETTING_NAMES } from '../../config/settings.js';
import {
  CHART,
  CHART_OWNED_ENV,
  helm,
  MANIFEST_FILE,
  manifestText,
  ROOT,
  SCHEMA_FILES,
  schemaText,
} from '../../scripts/deploy/gen.js';

const template = (...set: string[]) =>
  helm(['template', 't', CHART, '--kube-version', '1.37.2', ...set.flatMap((s) => ['--set-string', s])]);

describe('deploy/chart/tidepool', () => {
  it('passes helm lint', () => {
    const r = helm(['lint', '--strict', CHART, '--kube-version', '1.37.2']);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  it('keeps the schemas and the manifests identical to what the generator makes now', async () => {
    const schema = await schemaText();
    for (const f of SCHEMA_FILES) expect(readFileSync(f, 'utf8')).toBe(schema);
    expect(readFileSync(MANIFEST_FILE, 'utf8')).toBe(manifestText());
  });

  it("types env as the closed set of the daemon's variable names", () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILES[1], 'utf8'));
    const env = schema.properties.env;
    expect(env.additionalProperties).toBe(false);
    expect(Object.keys(env.properties).sort()).toEqual(
      SETTING_NAMES.filter((n) => !CHART_OWNED_ENV.includes(n)).sort(),
    );
    for (const [k, v] of Object.entries<any>(env.properties)) expect([k, v.type]).toEqual([k, 'string']);
  });

  it('lets helm refuse a bad value and an unknown name, naming them, and accept what the daemon accepts', () => {
    const bad = template('env.WARM_IP_TARGET=lots');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("'/env/WARM_IP_TARGET': 'lots' does not match");
    const unknown = template('env.WARM_IP_TARGE=1');
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain("additional properties 'WARM_IP_TARGE' not allowed");
    const enumBad = template('env.TIDEPOOL_PROVIDER=gcp');
    expect(enumBad.status).not.toBe(0);
    expect(enumBad.stderr).toContain('/env/TIDEPOOL_PROVIDER');
    // Spellings config/settings.ts accepts (it trims and lower-cases): the schema must not lag it.
    const env = { ENABLE_PREFIX_DELEGATION: 'TRUE', WARM_PREFIX_TARGET: ' 2 ', TIDEPOOL_PROVIDER: 'Azure' };
    expect(() => loadSettings(env)).not.toThrow();
    const ok = template(...Object.entries(env).map(([k, v]) => `env.${k}=${v}`));
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('- name: ENABLE_PREFIX_DELEGATION\n              value: "TRUE"');
  });

  it("has defaults the daemon's own settings loader accepts", () => {
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    expect(Object.values(values.env).every((v) => typeof v === 'string')).toBe(true);
    expect(() => loadSettings(values.env)).not.toThrow();
  });

  it('renders the DaemonSet as the issue asks', () => {
    const docs = manifestText()
      .split(/^---$/m)
      .map((d) => parseYaml(d))
      .filter(Boolean);
    const ds = docs.find((d) => d.kind === 'DaemonSet');
    const spec = ds.spec.template.spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(ds.spec.updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: '10%' },
    });
    const main = spec.containers[0];
    expect(main.securityContext).toMatchObject({
      privileged: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'] },
    });
    expect(main.readinessProbe.exec.command).toEqual([
      '/app/bin/grpc-health-probe',
      '-addr=unix:///run/tidepool/ipamd.sock',
      '-connect-timeout=5s',
      '-rpc-timeout=5s',
    ]);
    expect(main.resources.requests).toEqual({ cpu: '25m', memory: '96Mi' });
    expect(spec.initContainers[0].command).toEqual(['/app/bin/tidepool-install-cni']);
    expect(docs.map((d) => d.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'CustomResourceDefinition',
        'DaemonSet',
        'Role',
        'RoleBinding',
        'ServiceAccount',
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
      ].sort(),
    );
    const monitor = helm([
      'template',
      't',
      CHART,
      '--kube-version',
      '1.37.2',
      '--set',
      'podMonitor.enabled=true',
    ]);
    expect(monitor.stdout).toContain('kind: PodMonitor');
  });

  it('has a dashboard whose every query names a metric the daemon exports', () => {
    const metrics = readFileSync(join(ROOT, 'ipamd/serve/metrics.ts'), 'utf8');
    const exported = new Set([...metrics.matchAll(/'(tidepool_[a-z_]+)'/g)].map((m) => m[1]));
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/tidepool-dashboard.json'), 'utf8'));
    const used = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr as string));
    expect(used.length).toBeGreaterThan(8);
    for (const expr of used)
      for (const [, name] of expr.matchAll(/\b(tidepool_[a-z_]+?)(_bucket|_count|_sum)?\b/g))
        expect([name, exported.has(name)]).toEqual([name, true]);
  });

  it('has an IAM policy that allows every EC2 action the AWS provider calls, scoped by the cluster tag', () => {
    const policy = JSON.parse(readFileSync(join(ROOT, 'deploy/iam/aws-iam-policy.json'), 'utf8'));
    const allowed = new Set<string>(policy.Statement.flatMap((s: any) => [].concat(s.Action)));
    const dir = join(ROOT, 'providers/aws');
    const calls = new Set<string>();
    for (const f of readdirSync(dir))
      for (const [, a] of readFileSync(join(dir, f), 'utf8').matchAll(/new ([A-Z][A-Za-z]+)Command\(/g))
        calls.add(`ec2:${a}`);
    expect(calls.size).toBeGreaterThan(8);
    for (const a of calls) expect([a, allowed.has(a)]).toEqual([a, true]);
    // Every mutating action on an interface is conditioned on the tag Tidepool puts on its interfaces.
    const tag = 'aws:ResourceTag/cluster.k8s.amazonaws.com/name';
    const manage = policy.Statement.find((s: any) => s.Sid === 'ManageOwnInterfaces');
    expect(manage.Condition.StringEquals[tag]).toBe('${ClusterName}');
    expect(readFileSync(join(ROOT, 'providers/aws/tags.ts'), 'utf8')).toContain(
      "TAG_CLUSTER = 'cluster.k8s.amazonaws.com/name'",
    );
  });
});
