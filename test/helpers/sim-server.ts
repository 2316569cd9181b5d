// Starts the real sim server (providers/sim/server-main.ts, bundled with esbuild as the build does) as a
// separate process for tests, and kills it (its whole process group) afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { SimAdminClient } from '../../providers/sim/client.js';

let bundled: Promise<string> | undefined;

/** Bundles the server once per test file; returns the path of the runnable script. */
export function bundleSimServer(dir: string): Promise<string> {
  bundled ??= build({
    entryPoints: ['providers/sim/server-main.ts'],
    outfile: join(dir, 'tidepool-sim.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    logLevel: 'warning',
  }).then(() => join(dir, 'tidepool-sim.mjs'));
  return bundled;
}

export interface RunningSim {
  socket: string;
  proc: ChildProcess;
  stderr: () => string;
  /** SIGKILL to the process group, and wait for the exit. */
  kill9(): Promise<void>;
}

export async function startSim(script: string, socket: string, args: string[] = []): Promise<RunningSim> {
  const proc = spawn(process.execPath, [script, '--socket', socket, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve())); // stdio drained too
  const admin = new SimAdminClient(socket);
  try {
    // Stops at once if it exits (a server refusing its flags): a poll left running after the test would keep
    // Jest's worker alive for the rest of the 15 s.
    await admin.waitReady(15_000, () =>
      proc.exitCode !== null || proc.signalCode !== null
        ? new Error(`exited with ${proc.exitCode ?? proc.signalCode}`)
        : null,
    );
  } catch (e) {
    if (proc.exitCode !== null || proc.signalCode !== null) await closed; // its stderr is all read then
    throw new Error(`sim server did not start: ${(e as Error).message}\n${err}`);
  } finally {
    admin.close();
  }
  return {
    socket,
    proc,
    stderr: () => err,
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
        await exited;
      }
    },
  };
}

export function tempDir(tag: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `sim-${tag}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
