// ENI tags (reference aws-vpc-cni.md 4.2). Tidepool uses the incumbent's owner/age/cluster keys, so IAM
// conditions and tooling written for them keep working, plus its own idempotency-token key. The
// description differs from the incumbent's `aws-K8S-` so neither CNI's leak sweeper touches the other's ENIs.
import type { Tag, TagSpecification } from '@aws-sdk/client-ec2';

export const TAG_INSTANCE = 'node.k8s.amazonaws.com/instance_id';
export const TAG_CREATED_AT = 'node.k8s.amazonaws.com/createdAt';
export const TAG_CLUSTER = 'cluster.k8s.amazonaws.com/name';
export const TAG_CLIENT_TOKEN = 'tidepool.io/client-token';
export const TAG_OWNER = 'tidepool.io/owner';
export const TAG_NO_MANAGE = 'node.k8s.amazonaws.com/no_manage';
/** Subnet discovery (reference 4.2): `1` includes a subnet, `0` excludes it. */
export const SUBNET_ROLE_TAG = 'kubernetes.io/role/cni';

export const DESCRIPTION_PREFIX = 'tidepool-';

export interface EniTagInput {
  instanceId: string;
  clusterName: string;
  clientToken: string;
  createdAt: Date;
  additional: Record<string, string>;
  extra?: Record<string, string>;
}

export function eniTags(t: EniTagInput): Record<string, string> {
  const tags: Record<string, string> = { ...t.additional, ...(t.extra ?? {}) };
  tags[TAG_INSTANCE] = t.instanceId;
  tags[TAG_CREATED_AT] = t.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
  tags[TAG_CLIENT_TOKEN] = t.clientToken;
  tags[TAG_OWNER] = 'tidepool';
  if (t.clusterName) tags[TAG_CLUSTER] = t.clusterName;
  return tags;
}

export function tagSpecification(tags: Record<string, string>): TagSpecification[] {
  return [
    { ResourceType: 'network-interface', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
  ];
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key) out[t.Key] = t.Value ?? '';
  return out;
}
