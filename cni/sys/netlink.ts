// The plugin's rtnetlink addon (cni/native/netlink.c): the ADD's datapath lines in process, without `ip`
// processes. The plugin executable carries it (cni/build-options.mjs) and makes it available through
// globalThis.__tidepoolNetlink, which returns the path of the extracted library, or null when the build had
// no addon or it cannot be written safely. Without it, or with TIDEPOOL_PLUGIN_NO_ADDON=1 in the plugin's
// environment, iproute2 does the datapath.

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

let loaded: Netlink | null | undefined;

export function netlink(): Netlink | null {
  if (process.env.TIDEPOOL_PLUGIN_NO_ADDON === '1') return null;
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const path = (globalThis as { __tidepoolNetlink?: () => string | null }).__tidepoolNetlink?.();
    if (!path) return null;
    const mod = { exports: {} as Partial<Netlink> };
    process.dlopen(mod, path);
    if (typeof mod.exports.apply === 'function') loaded = mod.exports as Netlink;
  } catch {
    loaded = null;
  }
  return loaded;
}
