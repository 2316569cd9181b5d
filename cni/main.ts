// dist/bin/tidepool: the CNI plugin executable. The runtime runs it once per operation with CNI_* in the
// environment and the network configuration on stdin; the answer goes to stdout (reference section 1).
import { readSync, writeSync } from 'node:fs';
import { CniError, ErrorCode } from './errors.js';
import { dispatch } from './skel.js';

/** All of stdin, refusing to hold more than a bound (a config is a few kB; 1 MiB is checked later). */
function readStdin(): Buffer {
  const LIMIT = 64 << 20;
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe that is not ready yet
      if (code === 'EOF') break;
      throw new CniError(ErrorCode.IoFailure, `cannot read the network configuration from stdin: ${code}`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > LIMIT) throw new CniError(ErrorCode.IoFailure, `stdin exceeds ${LIMIT} bytes`);
  }
  return Buffer.concat(chunks);
}

function writeAll(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err; // a non-blocking pipe that is full
    }
  }
}

// No top-level await: the bundle must also run as a CommonJS script (cni/build-options.mjs).
void dispatch(process.env, readStdin).then(({ stdout, exitCode }) => {
  // fs.writeSync, not process.stdout: creating the stdout stream of a pipe loads net and streams.
  if (stdout) writeAll(stdout + '\n');
  // Everything is written (stdout and the log synchronously): exit without tearing down sockets and
  // child-process handles one by one.
  process.exit(exitCode);
});
