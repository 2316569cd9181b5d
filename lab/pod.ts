// `lab pod add NODE NAME` / `lab pod del NODE NAME`: a pod is a network namespace wired by the real
// plugin, run the way a runtime runs it. `add` waits until the fabric routes the pod's address (as
// EC2's own assignment, the fabric follows the cloud a moment later), so traffic works when it returns.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cidrContains } from '../config/net.js';
import type { FabricStatus } from './fabric.js';
import { record, writeManifest, type Manifest, type NodeRecord, type PodRecord } from './manifest.js';
import { labNames, validatePodName } from './names.js';
import { createNetns, deleteNetns, netnsPids, stopProcesses } from './netns.js';
import { runPlugin } from './plugin.js';

export function findNode(m: Manifest, name: string): NodeRecord {
  const node = m.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name} in this lab (nodes: ${m.nodes.map((n) => n.name).join(', ')})`);
  return node;
}

function podAddress(result: any): string {
  const ip = result?.ips?.[0]?.address;
  if (typeof ip !== 'string')
    throw new Error(`the plugin's result has no address: ${JSON.stringify(result)}`);
  return ip.split('/')[0];
}

/** True when the fabric routes `address` to an interface of `instanceId`. */
export function fabricOwns(stateDir: string, instanceId: string, address: string): boolean {
  const path = join(stateDir, 'fabric.json');
  if (!existsSync(path)) return false;
  const st = JSON.parse(readFileSync(path, 'utf8')) as FabricStatus;
  return st.interfaces.some(
    (i) =>
      i.instanceId === instanceId &&
      (i.addresses.includes(address) || i.prefixes.some((p) => cidrContains(p, address))),
  );
}

export async function podAdd(
  m: Manifest,
  nodeName: string,
  name: string,
  timeoutMs = 15_000,
): Promise<PodRecord> {
  const node = findNode(m, nodeName);
  validatePodName(name);
  if (m.pods.some((p) => p.name === name)) throw new Error(`a pod named ${name} already exists in this lab`);
  // `lab exec NAME` resolves nodes and the fabric's namespaces by name too: a pod may not shadow them.
  if (m.nodes.some((n) => n.name === name) || name === 'vpc' || name === 'internet')
    throw new Error(`a pod cannot be named ${name}: \`lab exec\` uses that name for a node or namespace`);
  const pod: PodRecord = {
    name,
    node: node.name,
    netns: labNames(m.prefix).pod(name),
    containerId: randomBytes(32).toString('hex'),
    ifname: 'eth0',
  };
  m.pods.push(pod);
  record(m, { kind: 'netns', name: pod.netns, role: 'pod' });
  await createNetns(pod.netns);
  const call = { containerId: pod.containerId, netns: pod.netns, ifname: pod.ifname, podName: name };
  try {
    pod.result = await runPlugin(node, { command: 'ADD', ...call });
  } catch (e) {
    // The plugin undoes its own work on a failed ADD; the lab removes the namespace and the record.
    await deleteNetns(pod.netns);
    m.pods = m.pods.filter((p) => p !== pod);
    m.resources = m.resources.filter((r) => !(r.kind === 'netns' && r.name === pod.netns));
    writeManifest(m);
    throw e;
  }
  pod.address = podAddress(pod.result);
  writeManifest(m);
  const deadline = Date.now() + timeoutMs;
  while (!fabricOwns(m.stateDir, node.instanceId, pod.address)) {
    if (Date.now() > deadline)
      throw new Error(
        `the fabric does not route ${pod.address} to ${node.name} after ${timeoutMs} ms (see fabric.log)`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  return pod;
}

export async function podDel(m: Manifest, nodeName: string, name: string): Promise<void> {
  const node = findNode(m, nodeName);
  const pod = m.pods.find((p) => p.name === name);
  if (!pod) throw new Error(`no pod ${name} in this lab`);
  if (pod.node !== node.name) throw new Error(`pod ${name} runs on ${pod.node}, not ${node.name}`);
  await runPlugin(node, {
    command: 'DEL',
    containerId: pod.containerId,
    netns: pod.netns,
    ifname: pod.ifname,
    podName: name,
    prevResult: pod.result,
  });
  // As a runtime stops a pod's containers: nothing may outlive the pod inside its namespace.
  await stopProcesses(await netnsPids(pod.netns));
  await deleteNetns(pod.netns);
  m.pods = m.pods.filter((p) => p !== pod);
  m.resources = m.resources.filter((r) => !(r.kind === 'netns' && r.name === pod.netns));
  writeManifest(m);
}
