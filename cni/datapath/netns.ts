// The pod's network namespace as CNI_NETNS names it: a file on nsfs (a bind mount of /proc/<pid>/ns/net,
// or /proc/<pid>/ns/net itself). Every command checks it here, once, before it touches anything: a
// namespace is known by its identity (the device and inode of its nsfs file, what stat(2) of any path to it
// returns), never by its path, so /proc/self/ns/net, /proc/<pid>/ns/net of a process beside the plugin and
// a bind mount under /run/netns all name the node's namespace alike. The plugin's own namespace (and the
// runtime's, and the init process's) is never a pod's: a DEL that named it would delete the node's
// interfaces (issue 11, defect 1).
import { statSync, type Stats } from 'node:fs';
import type { Command } from '../env.js';
import { CniError, ErrorCode } from '../errors.js';

/** Our own namespace, through /proc/<pid> rather than /proc/self so that child processes see the same one. */
export const hostNetnsPath = () => `/proc/${process.pid}/ns/net`;

export type NetnsState =
  /** A network namespace other than the node's. */
  | 'pod'
  /** Nothing at that path (the runtime removed the pod's namespace): DEL goes on with the host side. */
  | 'gone'
  /** A path that is not a namespace file (an unmounted netns file left behind): DEL treats it as gone. */
  | 'not-a-namespace';

const invalid = (msg: string) => new CniError(ErrorCode.InvalidEnvironment, msg);

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * Namespaces that are never a pod's: ours, the runtime's that ran us (the spec runs plugins in the
 * runtime's namespace; a runtime that is not there still never hands a plugin its own), and the init
 * process's (the machine's; /proc/1 may be closed to us, then that one is not checked).
 */
function nodeNamespaces(): { what: string; st: Stats }[] {
  const out: { what: string; st: Stats }[] = [];
  const add = (what: string, path: string) => {
    const st = statOrNull(path);
    if (st) out.push({ what, st });
  };
  add("the plugin's own network namespace", hostNetnsPath());
  add('the network namespace of the runtime that ran the plugin', `/proc/${process.ppid}/ns/net`);
  add('the network namespace of the init process', '/proc/1/ns/net');
  return out;
}

/**
 * Classifies CNI_NETNS; throws (code 4) when it names the node's namespace, whatever the command, and
 * (code 3 or 4) when ADD or CHECK cannot use it.
 */
export function checkNetns(command: Command, path: string): NetnsState {
  const needed = command === 'ADD' || command === 'CHECK';
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!needed) return 'gone';
    if (code === 'ENOENT') throw new CniError(ErrorCode.UnknownContainer, `CNI_NETNS ${path} does not exist`);
    throw invalid(`CNI_NETNS ${path}: ${code}`);
  }
  const node = nodeNamespaces();
  if (node.length === 0 || node[0].what !== "the plugin's own network namespace")
    throw invalid(`cannot stat ${hostNetnsPath()}: is /proc mounted?`);
  for (const n of node)
    if (st.dev === n.st.dev && st.ino === n.st.ino)
      throw invalid(`CNI_NETNS ${path} is ${n.what}, not a pod's: refusing to ${command} in it`);
  // Every namespace file lives on the one nsfs superblock: the same device as our own namespace file.
  if (st.dev !== node[0].st.dev || !st.isFile()) {
    if (needed) throw invalid(`CNI_NETNS ${path} is not a network namespace`);
    return 'not-a-namespace';
  }
  return 'pod';
}

/** ADD's and CHECK's check: the path is a namespace that is not the node's. */
export function requirePodNetns(path: string): void {
  checkNetns('ADD', path);
}
