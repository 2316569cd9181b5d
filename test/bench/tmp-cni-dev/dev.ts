import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCniDaemon } from '../../helpers/cni-daemon.js';
import { Netns } from '../../helpers/netns.js';
const host = Netns.create('cni');
const d = await startCniDaemon(host, { env: { IP_COOLDOWN_PERIOD: '0' } });
const dir = mkdtempSync(join(tmpdir(), 'tp-cni-dev-'));
console.log('SOCKET', d.socket, 'HOST', host.name, 'DIR', dir);
const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'tidepool', type: 'tidepool', socket: d.socket, logFile: join(dir, 'plugin.log') });
const time = (label: string, argv: string[], env: Record<string, string>) => {
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { input: conf, env: { PATH: process.env.PATH!, ...env } });
  console.log(label, (performance.now() - t).toFixed(1), r.status, r.stdout.toString().slice(0, 80), r.stderr.toString().slice(0, 300));
};
for (let i = 0; i < 5; i++) {
  const pod = Netns.create('cni');
  const env = { CNI_CONTAINERID: `c${i}`, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
  time('node -e 0', [process.execPath, '-e', '0'], {});
  time('VERSION', ['nsenter', `--net=${host.path}`, resolve('dist/bin/tidepool')], { CNI_COMMAND: 'VERSION' });
  time('STATUS', ['nsenter', `--net=${host.path}`, resolve('dist/bin/tidepool')], { CNI_COMMAND: 'STATUS' });
  time('ADD', ['nsenter', `--net=${host.path}`, resolve('dist/bin/tidepool')], { CNI_COMMAND: 'ADD', ...env, ...(process.env.PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` } : {}) });
  time('DEL', ['nsenter', `--net=${host.path}`, resolve('dist/bin/tidepool')], { CNI_COMMAND: 'DEL', ...env });
  await pod.cleanup();
}
console.log(spawnSync('cat', [join(dir, 'plugin.log')]).stdout.toString().split('\n').slice(-6).join('\n'));
await d.cleanup();
await host.cleanup();
