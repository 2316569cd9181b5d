// The pod's network namespace as CNI_NETNS names it: a file on nsfs (a bind mount of /proc/<pid>/ns/net,
// or /proc/<pid>/ns/net itself), and not the namespace the plugin runs in.
import { statSync } from 'node:fs';
import { CniError, ErrorCode } from '../errors.js';

/** Our own namespace, through /proc/<pid> rather than /proc/self so that child processes see the same one. */
export const hostNetnsPath = () => `/proc/${process.pid}/ns/net`;

export function netnsExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function requirePodNetns(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CniError(ErrorCode.UnknownContainer, `CNI_NETNS ${path} does not exist`);
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${path}: ${code}`);
  }
  const own = statSync(hostNetnsPath());
  // Every namespace file lives on the one nsfs superblock: same device as our own namespace file.
  if (st.dev !== own.dev || !st.isFile())
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS ${path} is not a network namespace`);
  if (st.ino === own.ino)
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `CNI_NETNS ${path} is the plugin's own network namespace`,
    );
}
