// The plugin's socket and child-process layer (cni/sys) on Node's public node:net and node:child_process, in
// a Node process of its own as the plugin is (test/helpers/sys-probe.ts); and the plugin's source reaches
// no internal binding of Node (process.binding, internalBinding: DEP0111, shapes that change between
// releases).
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tp-sys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function probe() {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/sys-probe.ts'), dir], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`sys-probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('cni/sys on node:net and node:child_process', () => {
  test('sockets and children: order, close, errno names, exit status, EPIPE', () => {
    const out = probe();
    // Writes made before the connection completes are sent in order; the peer closing is seen.
    expect(out.echo).toEqual({ got: 'ABCDEFBYE', closed: true });
    expect(out.absent).toBe('ENOENT');
    expect(out.refused).toBe('ECONNREFUSED');
    expect(out.child).toEqual({ status: 3, stdout: 'HELLO\n', stderr: 'oops\n' });
    expect(out.missing).toBe('ENOENT');
    // A child that exits without reading a large input still reports its own status.
    expect(out.early).toBe(5);
  });
});

describe("the plugin's source", () => {
  const files = (d: string): string[] =>
    readdirSync(join(ROOT, d), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)],
    );

  test('uses no internal binding of Node and carries no C beyond the rtnetlink addon', () => {
    const all = files('cni');
    const offenders = all.filter(
      (f) =>
        /\.(ts|mjs|c)$/.test(f) &&
        /\bprocess\s*\.\s*binding\b|\binternalBinding\b|['"]binding['"]\s*\]/.test(
          readFileSync(join(ROOT, f), 'utf8'),
        ),
    );
    expect(offenders).toEqual([]);
    expect(all.filter((f) => /\.[ch]$/.test(f))).toEqual(['cni/native/netlink.c']);
  });
});
