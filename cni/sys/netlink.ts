// The plugin's addon (cni/native: netlink.c, unix.c): the ADD's datapath lines over rtnetlink, in process,
// without `ip` processes, and blocking calls on the daemon's Unix socket. The plugin executable carries it
// (cni/build-options.mjs) and makes it available through globalThis.__tidepoolNetlink, which returns the path
// of the extracted library, or null when the build had no addon or it cannot be written. Without it, or with
// TIDEPOOL_PLUGIN_PUBLIC_API=1, iproute2 does the datapath and Node's own socket reaches the daemon.
import { publicOnly } from './bindings.js';

/** One datapath operation: the structured twin of an `ip -batch` line (see netlink.c for the fields). */
export interface NetlinkOp {
  op: 'vethAdd' | 'linkSet' | 'linkDel' | 'addrAdd' | 'routeAdd' | 'neighAdd' | 'ruleAdd' | 'ruleDel';
  name?: string;
  peer?: string;
  mac?: string;
  peerMac?: string;
  peerNetns?: string;
  ip?: string;
  gw?: string;
  mtu?: number;
  prefix?: number;
  table?: number;
  priority?: number;
  replace?: 1;
  linkScope?: 1;
  fromSource?: 1;
  /** vethAdd: create this end up. */
  up?: 1;
}

export interface Netlink {
  /** Runs `ops` in the namespace at `netns` (null: ours); one message per op run, "" for success. */
  apply(netns: string | null, ops: NetlinkOp[], force: boolean): string[];
}

/** Blocking Unix stream socket calls (unix.c); a failure throws an Error whose `code` is the errno name. */
export interface BlockingUnix {
  /** Connects, waiting up to `timeoutMs` for room in the listener's backlog (then ETIMEDOUT). */
  unixConnect(path: string, timeoutMs: number): number;
  unixWrite(fd: number, data: Buffer): void;
  /** What arrived within `timeoutMs`: a Buffer, an empty Buffer once the peer closed, or null. */
  unixRead(fd: number, timeoutMs: number): Buffer | null;
  unixClose(fd: number): void;
}

let loaded: Partial<Netlink & BlockingUnix> | null | undefined;

function addon(): Partial<Netlink & BlockingUnix> | null {
  if (publicOnly()) return null;
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const path = (globalThis as { __tidepoolNetlink?: () => string | null }).__tidepoolNetlink?.();
    if (!path) return null;
    const mod = { exports: {} as Partial<Netlink & BlockingUnix> };
    process.dlopen(mod, path);
    loaded = mod.exports;
  } catch {
    loaded = null;
  }
  return loaded;
}

export function netlink(): Netlink | null {
  const a = addon();
  return typeof a?.apply === 'function' ? (a as Netlink) : null;
}

export function blockingUnix(): BlockingUnix | null {
  const a = addon();
  const ok = ['unixConnect', 'unixWrite', 'unixRead', 'unixClose'].every(
    (f) => typeof a?.[f as keyof BlockingUnix] === 'function',
  );
  return ok ? (a as BlockingUnix) : null;
}
