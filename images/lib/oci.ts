// A small, reproducible OCI image writer: a root filesystem directory becomes one layer (a tar with sorted
// entries, owner 0:0, every mtime SOURCE_DATE_EPOCH), plus the image config, the manifest, index.json and
// oci-layout, packed as an OCI image layout archive that `ctr images import` and `skopeo` read. The same
// directory contents and options always give the same bytes, so the same image digest.
// Format: OCI image-spec v1.1 (image-layout.md, manifest.md, config.md); tar: POSIX ustar with pax
// extended headers for long names.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  path: string; // relative, no leading slash; directories without a trailing slash
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: Buffer;
  link?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, e: { type: string; mode: number; size: number; link?: string }, mtime: number) {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(octal(e.mode & 0o7777, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(e.size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148);
  h.write(e.type, 156);
  if (e.link) h.write(e.link.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

function pad(b: Buffer): Buffer[] {
  const rest = b.length % 512;
  return rest ? [b, Buffer.alloc(512 - rest)] : [b];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

/** A tar archive of the entries, sorted by path, directories marked with a trailing slash. */
export function tar(entries: TarEntry[], mtime: number): Buffer {
  const out: Buffer[] = [];
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    const name = e.type === 'dir' ? `${e.path}/` : e.path;
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const type = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    const pax: string[] = [];
    if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name));
    if (e.link && Buffer.byteLength(e.link) > 100) pax.push(paxRecord('linkpath', e.link));
    if (pax.length) {
      const body = Buffer.from(pax.join(''));
      out.push(header('PaxHeaders/' + name.slice(-80), { type: 'x', mode: 0o644, size: body.length }, mtime));
      out.push(...pad(body));
    }
    out.push(header(name, { type, mode: e.mode, size: data.length, link: e.link }, mtime));
    if (data.length) out.push(...pad(data));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** Every file, directory and symlink under root, as tar entries (hard links become copies). */
export function walk(root: string, prefix = ''): TarEntry[] {
  const out: TarEntry[] = [];
  for (const name of readdirSync(join(root, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const full = join(root, rel);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) out.push({ path: rel, type: 'symlink', mode: 0o777, link: readlinkSync(full) });
    else if (st.isDirectory()) {
      out.push({ path: rel, type: 'dir', mode: st.mode & 0o7777 });
      out.push(...walk(root, rel));
    } else if (st.isFile())
      out.push({ path: rel, type: 'file', mode: st.mode & 0o7777, data: readFileSync(full) });
    else throw new Error(`${full}: neither file, directory nor symlink; an image holds no device nodes`);
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface ImageSpec {
  /** Full name, e.g. localhost/tidepool:0.1.0 (the io.containerd.image.name annotation). */
  name: string;
  entries: TarEntry[];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  /** The user the entrypoint runs as, e.g. 65535:65535. */
  user?: string;
  labels?: Record<string, string>;
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH). */
  epoch: number;
}

export interface BuiltImage {
  archive: Buffer;
  /** sha256:... of the manifest: the digest containerd reports for the image. */
  digest: string;
  layerDigest: string;
  configDigest: string;
}

/** The OCI image layout archive of one single-layer linux/amd64 image. */
export function ociArchive(spec: ImageSpec): BuiltImage {
  const layerTar = tar(spec.entries, spec.epoch);
  const layer = gzipSync(layerTar, { level: 6 });
  const created = new Date(spec.epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.labels ? { Labels: spec.labels } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] },
      history: [{ created, created_by: 'tidepool images/lib/oci.ts' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${sha256(config)}`,
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: `sha256:${sha256(layer)}`,
          size: layer.length,
        },
      ],
    }),
  );
  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${sha256(manifest)}`,
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  const blob = (b: Buffer): TarEntry => ({
    path: `blobs/sha256/${sha256(b)}`,
    type: 'file',
    mode: 0o644,
    data: b,
  });
  const archive = tar(
    [
      { path: 'blobs', type: 'dir', mode: 0o755 },
      { path: 'blobs/sha256', type: 'dir', mode: 0o755 },
      blob(layer),
      blob(config),
      blob(manifest),
      { path: 'oci-layout', type: 'file', mode: 0o644, data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { path: 'index.json', type: 'file', mode: 0o644, data: index },
    ],
    spec.epoch,
  );
  return {
    archive,
    digest: `sha256:${sha256(manifest)}`,
    layerDigest: `sha256:${sha256(layer)}`,
    configDigest: `sha256:${sha256(config)}`,
  };
}

export function writeImage(file: string, spec: ImageSpec): BuiltImage {
  const img = ociArchive(spec);
  writeFileSync(file, img.archive);
  return img;
}
