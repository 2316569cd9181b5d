// Random bytes from /dev/urandom with one read: node:crypto would load ~35 internal modules at start-up.
import { closeSync, openSync, readSync } from 'node:fs';

export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    readSync(fd, buf, 0, n, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** A name for the host end while it is created; it becomes the real name once the pod side succeeded. */
export function temporaryVethName(): string {
  return `tpt${randomBytes(6).toString('hex')}`;
}
