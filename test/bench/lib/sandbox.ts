// Pod sandboxes for the burst benchmark: the runtime creates a pod's network namespace first and only
// then calls the CNI plugin, so the benchmark does the same — namespaces made before the clock starts,
// then the real plugin's ADD (as lab/pod.ts runs it) timed until the fabric routes the address. The
// namespaces are recorded in the lab's manifest before they exist, so `lab down` removes them.
import { randomBytes } from 'node:crypto';
import type { LabHandle } from '../../../demo/lab-adapter.js';
import { writeManifest, type NodeRecord } from '../../../lab/manifest.js';
import { labNames } from '../../../lab/names.js';
import { createNetns } from '../../../lab/netns.js';
import { runPlugin, type PluginRunner } from '../../../lab/plugin.js';
import { fabricOwns } from '../../../lab/pod.js';

export interface Sandbox {
  name: string;
  netns: string;
  containerId: string;
}

export async function createSandboxes(lab: LabHandle, names: string[]): Promise<Sandbox[]> {
  const m = lab.manifest;
  const boxes = names.map((name) => ({
    name,
    netns: labNames(m.prefix).pod(name),
    containerId: randomBytes(32).toString('hex'),
  }));
  for (const b of boxes) m.resources.push({ kind: 'netns', name: b.netns, role: 'pod' });
  writeManifest(m);
  // A few at a time: `ip netns add` serialises on mount locks anyway.
  for (let i = 0; i < boxes.length; i += 8)
    await Promise.all(boxes.slice(i, i + 8).map((b) => createNetns(b.netns)));
  return boxes;
}

/** The plugin's ADD in `box`, then the wait until the fabric routes the address; returns the address. */
export async function addInSandbox(
  lab: LabHandle,
  node: NodeRecord,
  box: Sandbox,
  timeoutMs = 30_000,
  runner?: PluginRunner,
): Promise<string> {
  const result = await runPlugin(
    node,
    { command: 'ADD', containerId: box.containerId, netns: box.netns, ifname: 'eth0', podName: box.name },
    runner,
  );
  const address = String(result?.ips?.[0]?.address ?? '').split('/')[0];
  if (!address) throw new Error(`the plugin's result has no address: ${JSON.stringify(result)}`);
  const deadline = Date.now() + timeoutMs;
  while (!fabricOwns(lab.stateDir, node.instanceId, address)) {
    if (Date.now() > deadline) throw new Error(`the fabric does not route ${address} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return address;
}
