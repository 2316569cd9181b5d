// Orphan release (ARCHITECTURE section 2, issue 3): a DEL that runs while the daemon is down tears the pod's
// datapath down from prevResult, but the address stays allocated in the store. The daemon finds such
// allocations by their host veth: the plugin names it from the pod (proto/veth-name.ts, the contract both sides share, so
// the two can never disagree), so an allocation whose host veth is missing from the daemon's network
// namespace belongs to a pod that is gone. It is released through Ipam.release, so the address cools down
// exactly as after a DEL.
//
// Safety: one `ip -json link show` of the daemon's OWN namespace per audit (read-only; nothing is changed
// in any namespace); an allocation is released only when its veth is missing in two consecutive audits AND
// it is older than the grace period (an ADD in progress creates the veth after allocating); a failed
// listing releases nothing.
import { hostVethName } from '../../proto/veth-name.js';
import type { Clock } from '../../providers/clock.js';
import type { IpamCore } from './core.js';
import { recoveredVeth } from './recovery.js';
import type { Allocation, Ipam } from './types.js';

export interface OrphanLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface OrphanAuditOptions {
  ipam: Pick<Ipam, 'release'>;
  /** The allocations held now. */
  allocations: () => Allocation[];
  /** Names of the links of the daemon's network namespace (one listing per audit). */
  listLinks: () => Promise<string[]>;
  vethPrefix: string;
  intervalMs: number;
  graceMs: number;
  clock: Clock;
  log: OrphanLogger;
  /** Called once per allocation released (metrics). */
  onReleased?: (a: Allocation, veth: string) => void;
}

export interface AuditOutcome {
  /** Allocations whose host veth was missing in this audit. */
  missing: number;
  released: Allocation[];
}

/** The host veth the plugin created for this allocation (same function, same inputs as cni/commands/add). */
export function allocationVeth(prefix: string, a: Allocation): string {
  return hostVethName(prefix, a.pod.namespace, a.pod.name, a.key.containerId, a.key.ifname);
}

// The allocation's identity across audits: a DEL + ADD of the same key between audits is a new allocation.
const identity = (a: Allocation) =>
  `${a.key.network}\u0000${a.key.containerId}\u0000${a.key.ifname}\u0000${a.address}\u0000${a.allocatedAt}`;

export class OrphanAudit {
  /** Allocations released by the audit since the daemon started. */
  releasedTotal = 0;
  private missingBefore = new Set<string>();
  private stopping = false;
  private wake: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((resolve) => (this.wake = resolve));
  private loopDone?: Promise<void>;

  constructor(private readonly o: OrphanAuditOptions) {}

  /** One audit: list the links once, compare every allocation, release those missing twice past the grace. */
  async auditOnce(): Promise<AuditOutcome> {
    let links: Set<string>;
    try {
      links = new Set(await this.o.listLinks());
    } catch (err) {
      // Nothing is known about the veths: release nothing, and start counting misses over (a failed audit
      // breaks the "two consecutive audits" rule rather than bridging it).
      this.missingBefore = new Set();
      this.o.log.warn({ err }, 'orphan audit: cannot list host links; nothing released this round');
      return { missing: 0, released: [] };
    }
    const now = this.o.clock.now();
    const missingNow = new Set<string>();
    const released: Allocation[] = [];
    for (const a of this.o.allocations()) {
      if (this.stopping) break;
      // Rebuilt after a lost state, or quarantined: ipamd/recovery.ts audits those by their route.
      if (recoveredVeth(a.key) !== undefined) continue;
      const veth = allocationVeth(this.o.vethPrefix, a);
      if (links.has(veth)) continue;
      const id = identity(a);
      if (!this.missingBefore.has(id) || now - a.allocatedAt < this.o.graceMs) {
        missingNow.add(id);
        continue;
      }
      const r = await this.o.ipam.release(a.key, `orphan: host veth ${veth} gone`);
      if (!r) continue; // released meanwhile (a DEL reached the daemon)
      released.push(r);
      this.releasedTotal++;
      this.o.onReleased?.(r, veth);
      this.o.log.info(
        {
          address: r.address,
          veth,
          containerId: a.key.containerId,
          ifname: a.key.ifname,
          pod: `${a.pod.namespace}/${a.pod.name}`,
        },
        'released an orphaned allocation: its host veth is gone (the pod was deleted while the daemon was down)',
      );
    }
    this.missingBefore = missingNow;
    return { missing: missingNow.size + released.length, released };
  }

  /** Audits now, then every intervalMs on the injected clock, until stop(). */
  start(): void {
    this.loopDone ??= (async () => {
      while (!this.stopping) {
        try {
          await this.auditOnce();
        } catch (err) {
          // A release refused (e.g. the store closing): logged, retried at the next audit.
          this.o.log.warn({ err }, 'orphan audit failed; retried at the next audit');
        }
        if (this.stopping) break;
        await Promise.race([this.o.clock.sleep(this.o.intervalMs), this.stopSignal]);
      }
    })();
  }

  /** Stops the loop and waits for an audit in progress (call before the store closes). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loopDone;
  }
}

/** The audit the daemon runs: links of its own namespace (no `-n`: never another namespace), real clock. */
export async function createOrphanAudit(opts: {
  network: { vethPrefix: string; orphanAuditMs: number; orphanGraceMs: number };
  core: IpamCore;
  log: OrphanLogger;
}): Promise<OrphanAudit> {
  const { HostExec } = await import('../hostnet/exec.js');
  const host = new HostExec();
  return new OrphanAudit({
    ipam: opts.core,
    allocations: () => [...opts.core.pool.allocations.values()].map((a) => opts.core.pool.toAllocation(a)),
    listLinks: async () => (await host.ipJson<{ ifname: string }>(['link', 'show'])).map((l) => l.ifname),
    vethPrefix: opts.network.vethPrefix,
    intervalMs: opts.network.orphanAuditMs,
    graceMs: opts.network.orphanGraceMs,
    clock: opts.core.clock,
    log: opts.log,
  });
}

/** tidepool_orphans_released_total on the daemon's registry (prom-client is loaded by then). */
export async function registerOrphanMetric(
  registry: import('prom-client').Registry,
  audit: OrphanAudit,
): Promise<void> {
  const mod = (await import('prom-client')) as typeof import('prom-client') & {
    default?: typeof import('prom-client');
  };
  const client = mod.default ?? mod;
  new client.Counter({
    name: 'tidepool_orphans_released_total',
    help: 'Allocations released because their host veth was gone (pod deleted while the daemon was down)',
    registers: [registry],
    collect() {
      this.reset();
      if (audit.releasedTotal > 0) this.inc(audit.releasedTotal);
    },
  });
}
