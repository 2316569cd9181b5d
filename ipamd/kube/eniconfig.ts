// Custom networking as the incumbent does it (reference aws-vpc-cni.md 1.7 and 2.1): with
// AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true, new interfaces go into the subnet of the node's ENIConfig
// (crd.k8s.amazonaws.com/v1alpha1, cluster-scoped) with its security groups; with no groups in it, the
// primary interface's. The ENIConfig is named by the node's label vpc.amazonaws.com/externalEniConfig, else
// its annotation ENI_CONFIG_ANNOTATION_DEF, else its label ENI_CONFIG_LABEL_DEF (both default
// k8s.amazonaws.com/eniConfig; users often set topology.kubernetes.io/zone), else "default". The node is
// read again before each new interface, so a relabelled node steers the next interface.
import type { KubeSettings } from '../../config/settings.js';

export const ENICONFIG_GROUP = 'crd.k8s.amazonaws.com';
export const ENICONFIG_VERSION = 'v1alpha1';
export const ENICONFIG_PLURAL = 'eniconfigs';
export const EXTERNAL_ENICONFIG_LABEL = 'vpc.amazonaws.com/externalEniConfig';
export const DEFAULT_ENICONFIG = 'default';

export interface EniConfigSpec {
  name: string;
  subnet: string;
  securityGroups: string[];
}

export function eniConfigName(
  node: { labels: Record<string, string>; annotations: Record<string, string> },
  s: Pick<KubeSettings, 'eniConfigLabel' | 'eniConfigAnnotation'>,
): string {
  const pick = (m: Record<string, string>, k: string) => (Object.hasOwn(m, k) ? m[k] : undefined);
  return (
    pick(node.labels, EXTERNAL_ENICONFIG_LABEL) ??
    pick(node.annotations, s.eniConfigAnnotation) ??
    pick(node.labels, s.eniConfigLabel) ??
    DEFAULT_ENICONFIG
  );
}

export class EniConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EniConfigError';
  }
}

/** Validates an ENIConfig object as the CRD's schema does (spec.subnet required), naming what is wrong. */
export function parseEniConfig(name: string, obj: unknown): EniConfigSpec {
  const spec = (obj as { spec?: { subnet?: unknown; securityGroups?: unknown } } | null)?.spec;
  if (!spec || typeof spec.subnet !== 'string' || spec.subnet === '')
    throw new EniConfigError(`ENIConfig ${name} has no spec.subnet`);
  const groups = spec.securityGroups ?? [];
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string'))
    throw new EniConfigError(`ENIConfig ${name}: spec.securityGroups must be a list of group ids`);
  return { name, subnet: spec.subnet, securityGroups: groups as string[] };
}
