// One contender of the attachment-lock test (test/unit/cni-lock.test.ts): takes the lock of one key
// `rounds` times and, inside, claims a marker file with O_EXCL. A marker that already exists means two
// processes are inside at once — unless its writer is dead (killed inside by the test), which is allowed.
// Prints "violation <pid>" for each overlap seen, then "done".
import { openSync, closeSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { AttachmentLock } from '../../cni/lock.js';
import { Logger } from '../../cni/log.js';

const [dir, roundsText] = process.argv.slice(2);
const inside = `${dir}/inside`;
const log = new Logger();
const key = { network: 'net', containerId: 'c1', ifname: 'eth0' };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const spin = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

for (let i = 0; i < Number(roundsText); i++) {
  const lock = AttachmentLock.acquire(`${dir}/locks`, key, 60_000, log);
  for (;;) {
    try {
      const fd = openSync(inside, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch {
      let other = 0;
      try {
        other = Number(readFileSync(inside, 'utf8'));
      } catch {
        continue; // removed meanwhile
      }
      if (other && alive(other)) {
        console.log(`violation ${other}`);
        break;
      }
      try {
        unlinkSync(inside); // left by a contender killed inside
      } catch {
        /* gone */
      }
    }
  }
  spin(Math.random() * 3);
  try {
    if (readFileSync(inside, 'utf8') === String(process.pid)) unlinkSync(inside);
  } catch {
    /* gone */
  }
  lock.release();
}
console.log('done');
