import { writeFileSync } from 'node:fs';
import { startCniDaemon } from '../../helpers/cni-daemon.js';
import { Netns } from '../../helpers/netns.js';
const host = Netns.create('cni');
const d = await startCniDaemon(host, { env: { IP_COOLDOWN_PERIOD: '0' } });
writeFileSync('/tmp/cnidev/env.sh', `SOCK=${d.socket}\nHOST=${host.path}\nHOSTNAME_NS=${host.name}\n`);
console.log('ready');
process.on('SIGTERM', async () => { await d.cleanup(); await host.cleanup(); process.exit(0); });
setInterval(() => {}, 1000);
