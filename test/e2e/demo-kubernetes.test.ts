// `npm run demo -- --kubernetes` (tidepoolctl demo --kubernetes), run as users run it: the cluster lab
// comes up (nodes Ready, the startup taint removed, tidepool.io/NetworkReady True), a Deployment is scaled
// in two steps, every pod's VPC address is shown on its node's interface, HTTP from each node's pod to the
// others' and the internet through SNAT pass, and the demo removes everything it made.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = process.cwd();
const CTL = join(ROOT, 'dist', 'bin', 'tidepoolctl');

function demo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CTL, 'demo', ...args], {
      env: { ...process.env, TIDEPOOL_DEMO_PREFIX: 'tk-demo-' },
      cwd: ROOT,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), 840_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const mentioning = (text: string) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    });

test('npm run demo -- --kubernetes: a Deployment on real kubelets through Tidepool, then nothing left', async () => {
  const r = await demo(['--kubernetes', '--pods', '6', '--plain']);
  process.stderr.write(r.stdout);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  for (const n of ['node-1', 'node-2'])
    expect(r.stdout).toMatch(
      new RegExp(`${n}: Ready=true, startup taint removed, tidepool.io/NetworkReady=True \\(PoolReady`),
    );
  expect(r.stdout).toMatch(/== Deployment web: 3 replicas\n {2}3 pods Ready in \d+\.\d s/);
  expect(r.stdout).toMatch(/== scaled to 6 replicas\n {2}6 pods Ready in \d+\.\d s/);
  // Six address lines, each on an interface of the fabric.
  const addr = r.stdout.match(/^ {2}node-\d +web-\S+ +10\.\d+\.\d+\.\d+ +eth\d eni-\S+$/gm) ?? [];
  expect(addr).toHaveLength(6);
  expect(r.stdout).toMatch(/→ 3 pods on other nodes: 3 answered\n/);
  expect(r.stdout.match(/: SNAT\)/g)).toHaveLength(2);
  expect(r.stdout).toContain('all traffic checks passed');
  expect(r.stdout).toContain('removed: no namespace, process or file of the demo is left.');
  const lab = /namespaces (tk-demo-[0-9a-f]+-)\*, state in (\S+)\)/.exec(r.stdout);
  expect(lab).not.toBeNull();
  expect(readdirSync('/run/netns').filter((n) => n.startsWith(lab![1]))).toEqual([]);
  expect(existsSync(lab![2])).toBe(false);
  expect(mentioning(lab![2])).toEqual([]);
}, 900_000);
