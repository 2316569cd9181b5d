// A cluster lab whose `lab up --kubernetes` is killed (SIGKILL, no chance to clean up) while its kubelets
// start: `lab down` still removes every process (containerds, kubelets, shims, the DaemonSet's daemon,
// pods), namespace, mount (the nodes' mount-namespace files included) and the state directory, and the
// machine's kernel settings are unchanged.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mountPointsEverywhere, NODE_PATHS } from '../../lab/k8s/node.js';
import { Lab, labProcesses, namespacesWithPrefix } from '../helpers/lab.js';

const SYSCTLS = ['vm.overcommit_memory', 'kernel.panic', 'kernel.panic_on_oops'];
const sysctls = () => SYSCTLS.map((k) => execFileSync('sysctl', ['-n', k], { encoding: 'utf8' }).trim());

test('lab down after a killed lab up --kubernetes leaves nothing behind', async () => {
  const prefix = `tk-i${randomBytes(2).toString('hex')}-`;
  const lab = new Lab(prefix);
  const before = { sysctls: sysctls(), paths: NODE_PATHS.map((p) => existsSync(p)) };
  const child = lab.start(['up', '--kubernetes', '--nodes', '2']);
  let stderr = '';
  const killed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 600_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/node-2: starting the kubelet/.test(stderr)) {
        clearTimeout(timer);
        process.kill(child.pid!, 'SIGKILL');
        resolve(true);
      }
    });
    child.on('exit', () => resolve(false));
  });
  try {
    expect({ killed, stderr: killed ? '' : stderr }).toEqual({ killed: true, stderr: '' });
    // What it had started keeps running until lab down.
    expect(labProcesses(lab.stateDir).length).toBeGreaterThan(0);
  } finally {
    const down = await lab.down();
    expect(down.stderr).not.toMatch(/error|failed/i);
    expect(down.code).toBe(0);
  }
  expect(namespacesWithPrefix(prefix)).toEqual([]);
  expect(labProcesses(lab.stateDir)).toEqual([]);
  expect(existsSync(lab.stateDir)).toBe(false);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(lab.stateDir);
  const inUse = mountPointsEverywhere();
  for (const [i, p] of NODE_PATHS.entries())
    if (!before.paths[i] && existsSync(p)) expect(`${p} in use: ${inUse.has(p)}`).toBe(`${p} in use: true`);
  expect(sysctls()).toEqual(before.sysctls);
}, 900_000);
