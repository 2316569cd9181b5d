// The plugin's socket and child-process layer (cni/sys) behaves the same on Node's internal bindings and on
// the public node:net / node:child_process it falls back to (TIDEPOOL_PLUGIN_PUBLIC_API=1). It runs in a
// Node process of its own (test/helpers/sys-probe.ts): jest's sandboxed `process` has no bindings.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tp-sys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function probe(publicApi: boolean) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/sys-probe.ts'), dir], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...(publicApi ? { TIDEPOOL_PLUGIN_PUBLIC_API: '1' } : {}) },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`sys-probe failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe.each([
  ['internal bindings', false],
  ['public node:net and node:child_process', true],
])('cni/sys on %s', (_name, publicApi) => {
  test('sockets and children behave the same: order, close, errno names, exit status, EPIPE', () => {
    const out = probe(publicApi);
    expect(out.bindings).toEqual({ stream: !publicApi, spawn: !publicApi });
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
