// Policy rules for a pod (reference aws-vpc-cni.md 5.3): `to podIP lookup main` at 512 so traffic to the
// pod is never caught by a per-interface table, and for a pod whose address belongs to a secondary
// interface `from podIP lookup <table>` at 1536, so its packets leave through the interface that owns the
// address (the cloud's source/destination check drops them anywhere else).
import { GONE, type Line } from './batch.js';

export const TO_POD_PRIORITY = 512;
export const FROM_POD_PRIORITY = 1536;
export const MAIN_TABLE = 254;

export function addPodRules(address: string, table: number): Line[] {
  const lines: Line[] = [
    // A leftover rule for this address (a pod whose DEL never came) would make the add fail: drop it first.
    {
      cmd: `rule del to ${address} priority ${TO_POD_PRIORITY}`,
      tolerate: GONE,
      op: { op: 'ruleDel', ip: address, priority: TO_POD_PRIORITY },
    },
    {
      cmd: `rule add to ${address} lookup main priority ${TO_POD_PRIORITY}`,
      op: { op: 'ruleAdd', ip: address, priority: TO_POD_PRIORITY, table: MAIN_TABLE },
    },
    {
      cmd: `rule del from ${address} priority ${FROM_POD_PRIORITY}`,
      tolerate: GONE,
      op: { op: 'ruleDel', ip: address, priority: FROM_POD_PRIORITY, fromSource: 1 },
    },
  ];
  if (table !== MAIN_TABLE)
    lines.push({
      cmd: `rule add from ${address} lookup ${table} priority ${FROM_POD_PRIORITY}`,
      op: { op: 'ruleAdd', ip: address, priority: FROM_POD_PRIORITY, table, fromSource: 1 },
    });
  return lines;
}

export function deletePodRules(address: string): Line[] {
  return [
    { cmd: `rule del to ${address} priority ${TO_POD_PRIORITY}`, tolerate: GONE },
    { cmd: `rule del from ${address} priority ${FROM_POD_PRIORITY}`, tolerate: GONE },
  ];
}
