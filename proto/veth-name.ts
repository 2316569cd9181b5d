// Host-side veth names, part of the contract: the plugin creates the link under this name and the daemon
// finds a pod's link by it (orphan release, recovery). As the AWS VPC CNI names them (pkg/networkutils/names.go): the prefix and the first
// 11 hex characters of SHA-1("<namespace>.<podname>"), at most 15 characters, stable across a pod's
// re-creation so a stale link of the same name can be found and replaced.
import { sha1Hex } from './sha1.js';

export function hostVethName(
  prefix: string,
  podNamespace: string,
  podName: string,
  containerId: string,
  ifname: string,
): string {
  // Outside Kubernetes (no K8S_POD_* args) the container id stands for the pod. A second interface of the
  // same pod hashes "<ns>.<pod>.<ifname>", so it does not collide with the first.
  let key = podNamespace && podName ? `${podNamespace}.${podName}` : containerId;
  if (ifname !== 'eth0') key += `.${ifname}`;
  return prefix + sha1Hex(key).slice(0, 11);
}

/**
 * Whether `name` is a host veth as Tidepool names them (hostVethName: the prefix and 11 hex digits). DEL and
 * GC never remove a host link of another name, whatever a prevResult or a /32 route says: the node's eth0
 * is never one of ours.
 */
export function isTidepoolVeth(prefix: string, name: string): boolean {
  return name.startsWith(prefix) && /^[0-9a-f]{11}$/.test(name.slice(prefix.length));
}
