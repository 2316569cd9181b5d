// What the daemon learns from its Node object instead of guessing: the zone and instance-type labels the
// cloud controller (or the kubelet) sets, and spec.providerID, which names the instance. AWS's form is
// aws:///<zone>/<instance-id> (also aws://<zone>/<id>); the sim cloud uses the same.
import type { V1Node } from '@kubernetes/client-node';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type';

export interface NodeIdentity {
  name: string;
  uid: string;
  zone?: string;
  instanceType?: string;
  providerId?: string;
  /** The instance id in providerID, when it has the AWS form. */
  instanceId?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function parseProviderId(id: string | undefined): { zone?: string; instanceId?: string } {
  if (!id) return {};
  const m = /^aws:\/\/\/?([^/]*)\/(i-[A-Za-z0-9-]+)$/.exec(id.trim());
  if (!m) return {};
  return { zone: m[1] || undefined, instanceId: m[2] };
}

export function nodeIdentity(node: V1Node): NodeIdentity {
  const labels = node.metadata?.labels ?? {};
  const fromProvider = parseProviderId(node.spec?.providerID);
  return {
    name: node.metadata?.name ?? '',
    uid: node.metadata?.uid ?? '',
    zone: labels[ZONE_LABEL] || fromProvider.zone,
    instanceType: labels[INSTANCE_TYPE_LABEL] || undefined,
    providerId: node.spec?.providerID || undefined,
    instanceId: fromProvider.instanceId,
    labels,
    annotations: node.metadata?.annotations ?? {},
  };
}

/** Differences between the Node and what the cloud says about this machine (a wrong MY_NODE_NAME, say). */
export function identityMismatches(
  id: NodeIdentity,
  cloud: { instanceId: string; instanceType: string; zone: string },
): string[] {
  const out: string[] = [];
  if (id.instanceId && id.instanceId !== cloud.instanceId)
    out.push(`providerID names ${id.instanceId}, the cloud says this is ${cloud.instanceId}`);
  if (id.zone && cloud.zone && id.zone !== cloud.zone)
    out.push(`the Node's zone is ${id.zone}, the cloud says ${cloud.zone}`);
  if (id.instanceType && cloud.instanceType && id.instanceType !== cloud.instanceType)
    out.push(`the Node's instance type is ${id.instanceType}, the cloud says ${cloud.instanceType}`);
  return out;
}
