// Builds the sandbox ("pause") image for containerd (the CRI e2e tests and the cluster lab) without a registry: a static binary from
// pause.c (gcc -static), wrapped as an OCI image layout in a tar archive (one uncompressed layer, config,
// manifest, index.json naming it localhost/pause:test) that `ctr images import` accepts. Cached under
// .cache/pause of the repository, rebuilt when pause.c changes. Paths are found from the repository root,
// which is two levels up both from this file and from the bundled dist/bin/tidepoolctl.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PAUSE_IMAGE = 'localhost/pause:test';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'images/pause/pause.c');
const CACHE = join(ROOT, '.cache/pause');

/** One ustar entry: 512-byte header, the data, padding to 512. */
function tarEntry(name: string, data: Buffer, mode: number, type: '0' | '5' = '0'): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'ascii');
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(type === '5' ? 0 : data.length, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime: fixed, for a reproducible digest
  put('        ', 148, 8); // checksum placeholder: spaces
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}
const tar = (entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Returns the path of the OCI archive, building it if needed. */
export function buildPauseImage(): string {
  const source = readFileSync(SRC);
  const out = join(CACHE, `pause-${sha(source).slice(0, 12)}.tar`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const bin = join(CACHE, 'pause');
  execFileSync('gcc', ['-static', '-O2', '-o', bin, SRC]);
  execFileSync('strip', [bin]);

  const layer = tar([tarEntry('pause', readFileSync(bin), 0o755)]);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: ['/pause'], User: '65535:65535' },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${sha(layer)}`,
          size: layer.length,
        },
      ],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha(manifest)}`,
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: {
            'io.containerd.image.name': PAUSE_IMAGE,
            'org.opencontainers.image.ref.name': 'test',
          },
        },
      ],
    }),
  );
  const blob = (b: Buffer) => tarEntry(`blobs/sha256/${sha(b)}`, b, 0o644);
  const archive = tar([
    tarEntry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'), 0o644),
    tarEntry('index.json', index, 0o644),
    tarEntry('blobs/', Buffer.alloc(0), 0o755, '5'),
    tarEntry('blobs/sha256/', Buffer.alloc(0), 0o755, '5'),
    blob(layer),
    blob(config),
    blob(manifest),
  ]);
  writeFileSync(out, archive);
  return out;
}
