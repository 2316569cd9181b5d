// Builds the sandbox ("pause") image for containerd (the CRI e2e tests and the cluster lab) without a registry: a static binary from
// pause.c (gcc -static), wrapped as an OCI image layout archive by images/lib/oci.ts (index.json naming it
// localhost/pause:test) that `ctr images import` accepts. Cached under
// .cache/pause of the repository, rebuilt when pause.c or the OCI writer changes. Paths are found from the repository root,
// which is two levels up both from this file and from the bundled dist/bin/tidepoolctl. Several test workers may
// build it at once: each compiles in a directory of its own and renames the finished archive into place, so no one
// reads a binary another one's linker is rewriting.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeImage } from '../lib/oci.js';

export const PAUSE_IMAGE = 'localhost/pause:test';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'images/pause/pause.c');
const CACHE = join(ROOT, '.cache/pause');

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Returns the path of the OCI archive, building it if needed. */
export function buildPauseImage(): string {
  // Keyed by the source and by the code that packs it.
  const inputs = [SRC, join(ROOT, 'images/lib/oci.ts')];
  const key = sha(Buffer.concat(inputs.map((f) => readFileSync(f)))).slice(0, 12);
  const out = join(CACHE, `pause-${key}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const stage = mkdtempSync(join(CACHE, 'build-'));
  try {
    const bin = join(stage, 'pause');
    execFileSync('gcc', ['-static', '-O2', '-o', bin, SRC]);
    execFileSync('strip', [bin]);
    const tmp = join(stage, 'pause.tar');
    writeImage(tmp, {
      name: PAUSE_IMAGE,
      entries: [{ path: 'pause', type: 'file', mode: 0o755, data: readFileSync(bin) }],
      entrypoint: ['/pause'],
      user: '65535:65535',
      epoch: 0,
    });
    renameSync(tmp, out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return out;
}
