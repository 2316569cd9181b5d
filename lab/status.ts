// `lab status`: what the lab holds now — nodes and their daemons, the interfaces the fabric routes,
// pods with their addresses — as text, or as JSON with --json.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FabricStatus } from './fabric.js';
import type { Manifest } from './manifest.js';
import { alive, netnsExists } from './netns.js';

export interface LabStatus {
  prefix: string;
  stateDir: string;
  provider: string;
  ready: boolean;
  vpcCidrs: string[];
  processes: { name: string; pid?: number; running: boolean }[];
  nodes: { name: string; netns: string; instanceId: string; primaryAddress: string; namespace: boolean }[];
  interfaces: FabricStatus['interfaces'];
  pods: { name: string; node: string; address?: string; netns: string; namespace: boolean }[];
}

export function labStatus(m: Manifest): LabStatus {
  const fabricFile = join(m.stateDir, 'fabric.json');
  const fabric = existsSync(fabricFile)
    ? (JSON.parse(readFileSync(fabricFile, 'utf8')) as FabricStatus)
    : undefined;
  return {
    prefix: m.prefix,
    stateDir: m.stateDir,
    provider: m.options.provider,
    ready: m.ready,
    vpcCidrs: m.vpcCidrs,
    processes: m.resources.flatMap((r) =>
      r.kind === 'process' ? [{ name: r.name, pid: r.pid, running: !!r.pid && alive(r.pid) }] : [],
    ),
    nodes: m.nodes.map((n) => ({
      name: n.name,
      netns: n.netns,
      instanceId: n.instanceId,
      primaryAddress: n.primaryAddress,
      namespace: netnsExists(n.netns),
    })),
    interfaces: fabric?.interfaces ?? [],
    pods: m.pods.map((p) => ({
      name: p.name,
      node: p.node,
      address: p.address,
      netns: p.netns,
      namespace: netnsExists(p.netns),
    })),
  };
}

export function formatStatus(s: LabStatus): string {
  const lines = [
    `lab ${s.prefix} (${s.stateDir}), provider ${s.provider}, VPC ${s.vpcCidrs.join(', ') || '?'}: ${s.ready ? 'ready' : 'NOT READY'}`,
    '',
    'processes:',
    ...s.processes.map(
      (p) => `  ${p.name.padEnd(16)} ${p.running ? `running, pid ${p.pid}` : 'NOT RUNNING'}`,
    ),
    '',
    'nodes:',
  ];
  for (const n of s.nodes) {
    lines.push(
      `  ${n.name.padEnd(8)} ${n.instanceId}  primary ${n.primaryAddress}  netns ${n.netns}${n.namespace ? '' : ' (MISSING)'}`,
    );
    for (const i of s.interfaces
      .filter((i) => i.instanceId === n.instanceId)
      .sort((a, b) => a.deviceNumber - b.deviceNumber)) {
      const owned = [...i.addresses, ...i.prefixes];
      lines.push(
        `    eth${i.deviceNumber} ${i.interfaceId} ${i.mac} ${i.primaryAddress}  owns ${owned.length}: ${owned.join(' ')}`,
      );
    }
  }
  lines.push('', 'pods:');
  if (!s.pods.length) lines.push('  (none)');
  for (const p of s.pods)
    lines.push(
      `  ${p.name.padEnd(12)} ${p.node.padEnd(8)} ${p.address ?? '?'}${p.namespace ? '' : ' (MISSING)'}`,
    );
  return lines.join('\n');
}
