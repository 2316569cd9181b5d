// The fabric controller process (`lab _fabric`, started by `lab up` in the vpc namespace): follows the
// cloud's event source and keeps the Fabric converged. It reconnects after any error; each connection
// starts with a snapshot, so what happened while it was away is repaired.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudFactory } from './cloud.js';
import { Fabric, type FabricNode } from './fabric.js';
import { manifestPath, readManifest, type Manifest } from './manifest.js';
import { labNames } from './names.js';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} fabric: ${msg}\n`);
}

export async function runFabricController(stateDir: string, cloudFor: CloudFactory): Promise<number> {
  let m: Manifest = readManifest(stateDir);
  const nodeFor = (instanceId: string): FabricNode | undefined => {
    let i = m.nodes.findIndex((n) => n.instanceId === instanceId);
    if (i < 0) {
      // A node recorded after this process started: read the manifest again.
      m = JSON.parse(readFileSync(manifestPath(stateDir), 'utf8')) as Manifest;
      i = m.nodes.findIndex((n) => n.instanceId === instanceId);
    }
    if (i < 0) return undefined;
    return { netns: m.nodes[i].netns, index: Number(m.nodes[i].name.replace(/^node-/, '')) || i + 1 };
  };
  const fabric = new Fabric(labNames(m.prefix).vpc, nodeFor, join(stateDir, 'fabric.json'));
  const source = cloudFor(m).eventSource();
  const ac = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => ac.abort());
  log(`following ${source.name}`);
  // Events only update the model; one convergence pass covers every event that arrived while the
  // previous pass ran (a burst of pod ADDs costs a few passes, not one per event). A failed pass is
  // retried, and convergence reads the kernel back, so nothing is lost.
  let dirty = false;
  let running: Promise<void> | undefined;
  const kick = (): Promise<void> => {
    dirty = true;
    running ??= (async () => {
      while (dirty && !ac.signal.aborted) {
        dirty = false;
        try {
          await fabric.converge();
        } catch (e) {
          log(`convergence failed: ${(e as Error).message}; retrying`);
          dirty = true;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      running = undefined;
    })();
    return running;
  };
  while (!ac.signal.aborted) {
    try {
      await source.run(
        async (snapshot) => {
          log(`snapshot: ${snapshot.length} interface(s)`);
          fabric.setModel(snapshot);
          await kick();
        },
        async (e) => {
          log(`${e.type} ${JSON.stringify(e)}`);
          fabric.update(e);
          void kick();
        },
        ac.signal,
      );
      if (!ac.signal.aborted) log('event stream ended; reconnecting');
    } catch (e) {
      if (ac.signal.aborted) break;
      log(`error: ${(e as Error).message}; reconnecting`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  await running;
  log('stopped');
  return 0;
}
