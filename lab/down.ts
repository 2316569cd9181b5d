// `lab down`: removes everything the manifest lists, in the reverse order of creation: processes first
// (recorded pids that still carry the lab's id, and any process living in a lab namespace), then the
// namespaces (which takes every veth, route, rule and nftables table in them along), then the state
// directory. Each step goes on when another fails; the errors are reported at the end.
import { rmSync } from 'node:fs';
import type { Manifest } from './manifest.js';
import { deleteNetns, isLabProcess, netnsPids, stopProcesses } from './netns.js';

export async function labDown(m: Manifest, log: (msg: string) => void): Promise<string[]> {
  const errors: string[] = [];
  const namespaces = m.resources.flatMap((r) => (r.kind === 'netns' ? [r.name] : []));

  const pids = new Set<number>();
  for (const r of m.resources)
    if (r.kind === 'process' && r.pid && isLabProcess(r.pid, m.stateDir)) pids.add(r.pid);
  for (const ns of namespaces) for (const pid of await netnsPids(ns)) pids.add(pid);
  if (pids.size) {
    log(`stopping ${pids.size} process(es)`);
    await stopProcesses([...pids]);
  }
  // A process may have been starting while we listed: look once more.
  const late = (await Promise.all(namespaces.map(netnsPids))).flat();
  if (late.length) await stopProcesses(late, 500);

  for (const ns of [...namespaces].reverse()) {
    try {
      await deleteNetns(ns);
    } catch (e) {
      errors.push(`namespace ${ns}: ${(e as Error).message}`);
    }
  }
  log(`removed ${namespaces.length} namespace(s)`);
  for (const r of [...m.resources].reverse()) {
    if (r.kind !== 'dir') continue;
    try {
      rmSync(r.path, { recursive: true, force: true });
    } catch (e) {
      errors.push(`directory ${r.path}: ${(e as Error).message}`);
    }
  }
  return errors;
}
