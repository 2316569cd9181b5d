// The daemon's Unix socket path: the one place the socket file is created, checked and removed.
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';

export class SocketInUseError extends Error {
  constructor(path: string) {
    super(`${path}: another process is already serving on this socket; stop it first`);
    this.name = 'SocketInUseError';
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Creates the parent directory (0700) when missing and removes a stale socket left by a crashed daemon.
 * Refuses when another process answers on the socket, or when the path is something other than a socket.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new SocketInUseError(path);
  unlinkSync(path);
}

/** Root only: the plugin runs as root, nothing else may allocate addresses. */
export function restrictSocket(path: string): void {
  chmodSync(path, 0o600);
}

export function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
