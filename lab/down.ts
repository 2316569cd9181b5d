// `lab down`: removes everything the manifest lists, in the reverse order of creation: processes first
// (recorded pids that still carry the lab's id, and any process living in a lab namespace), then the
// namespaces (which takes every veth, route, rule and nftables table in them along), then the state
// directory. Each step goes on when another fails; the errors are reported at the end.
// Kubelet nodes (lab up --kubernetes) are drained first, while their daemons still run: the kubelet stops,
// containerd removes every pod sandbox (the plugin's DEL releases the addresses and containerd removes the
// pods' network namespaces), pod processes left are stopped with the rest; once no process is left, each
// node's mounts are unmounted inside its mount namespace (deepest first), the namespace's file is
// unmounted, and the mount points the lab created on the host are removed when empty and unused.
import { rmSync } from 'node:fs';
import { drainKubeletNode, machineOf, removeMountPoints, unmountKubeletNode } from './k8s/node.js';
import type { Manifest } from './manifest.js';
import { deleteNetns, isLabProcess, netnsPids, stopProcesses } from './netns.js';

export async function labDown(m: Manifest, log: (msg: string) => void): Promise<string[]> {
  const errors: string[] = [];
  const namespaces = m.resources.flatMap((r) => (r.kind === 'netns' ? [r.name] : []));

  const pids = new Set<number>();
  const machines = m.nodes.flatMap((n) => machineOf(n) ?? []);
  for (const node of machines) {
    try {
      for (const pid of await drainKubeletNode(m, node, log)) pids.add(pid);
    } catch (e) {
      errors.push(`draining ${node.name}: ${(e as Error).message}`);
    }
  }
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
  for (const node of machines) await unmountKubeletNode(m, node, errors);
  removeMountPoints(m, errors);
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
