// Recovery from a lost state database (issue 11, defect 2): the daemon never hands out an address a running
// pod holds, even when ipamd.db was deleted or truncated to 0 bytes while pods run.
//
// Telling a first start from a lost database. SQLite opens a missing or empty file as a new database, so
// the store reports `created`. That alone is also what a first start on a fresh node looks like; two facts
// kept outside the database tell them apart:
//  - the node itself: host veths with Tidepool's names (<prefix><11 hex>) exist only where the plugin
//    wired pods, and they live as long as those pods;
//  - a marker, <state dir>/node-epoch.json, written once the database exists, holding the kernel's boot id
//    (/proc/sys/kernel/random/boot_id). A marker of this boot means a daemon ran here since the node
//    booted, so its pods (and its warm addresses) may be live; a marker of another boot means the node
//    rebooted, and every pod namespace went with the reboot. Its name does not match `ipamd.db*`, so
//    removing the database's files leaves it.
// A created database with neither is a first start: the cloud's addresses are adopted free, as before.
// Otherwise (either one, or the node could not be read) the state is lost, and during the first listing of
// the cloud (before any Allocate can take an address) every address the cloud shows on the node is:
//  - recovered, when the node proves it held: a Tidepool host veth, a /32 route in main pointing at it,
//    `to addr lookup main` at 512, and `from addr lookup <table>` at 1536 with the table of the interface
//    that owns the address (none on the primary), and no other address routed to the same veth. The
//    allocation is keyed (RECOVERED_NETWORK, <veth>, ''): its container id is unknown, so a DEL's Release
//    cannot name it; the plugin's DEL removes the veth and its route, and auditRecovered() releases the
//    allocation once the node no longer routes the address to the veth (TIDEPOOL_RELEASE_ORPHANS);
//  - quarantined, otherwise: held by an allocation keyed (QUARANTINE_NETWORK, <addr>, ''), so it is
//    neither free nor releasable to the cloud, until TIDEPOOL_QUARANTINE_MS after the recovery, or until
//    the Kubernetes pod list (the QuarantineControl hook below) says no pod holds it. Both keys use a
//    network name no request can carry (requests.ts), so no DEL, GC or ADD can touch them by mistake.
// Both kinds are ordinary allocations in the store: they survive a restart, and the quarantine's end is
// derived from its allocatedAt, so a restart in the middle keeps it. Until the first listing is claimed,
// meta.recovery = 'pending' in the database: a restart before then (kill -9, the cloud unreachable) finds
// a database that is no longer empty, and recovers again rather than adopting the listing free.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../../config/settings.js';
import type { Clock } from '../../providers/clock.js';
import type { IpamCore } from './core.js';
import { HostExec } from '../hostnet/exec.js';
import { readNodePods, type NodePods, type PodDatapath } from '../hostnet/pods.js';
import type { Logger } from '../log.js';
import type { StateStore, StoredAllocation } from '../state/store.js';
import type { AllocationKey, PodRef } from './types.js';

export const MARKER_FILE = 'node-epoch.json';
const PENDING_KEY = 'recovery';
export const RECOVERED_NETWORK = '(recovered)';
export const QUARANTINE_NETWORK = '(quarantine)';
const NO_POD: PodRef = { namespace: '', name: '', uid: '', netns: '' };
const MAIN_TABLE = 254;

export const recoveredKey = (veth: string): AllocationKey => ({
  network: RECOVERED_NETWORK,
  containerId: veth,
  ifname: '',
});
export const quarantineKey = (address: string): AllocationKey => ({
  network: QUARANTINE_NETWORK,
  containerId: address,
  ifname: '',
});

/** The host veth a recovered allocation stands for; null for a quarantine (no veth); undefined otherwise. */
export function recoveredVeth(key: AllocationKey): string | null | undefined {
  if (key.network === RECOVERED_NETWORK) return key.containerId;
  if (key.network === QUARANTINE_NETWORK) return null;
  return undefined;
}

export interface NodeMarker {
  bootId: string;
  createdAt: string;
}

export type RecoveryMode = 'normal' | 'first-start' | 'lost-state';

export interface RecoveryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RecoveryOptions {
  core: Pick<IpamCore, 'pool' | 'reconciler' | 'release' | 'whenReady'>;
  stateDir: string;
  /** The store created its schema at this open (the database file was missing or empty). */
  databaseCreated: boolean;
  quarantineMs: number;
  /** Reads the pod datapaths of the daemon's namespace (hostnet/pods.ts). */
  readPods: () => Promise<NodePods>;
  bootId?: () => string;
  /**
   * Kept in the database while a recovery waits for the first listing: a restart in that window (kill -9,
   * the cloud unreachable) recovers again instead of adopting the listing free.
   */
  pending?: { get(): boolean; set(on: boolean): void };
  /** Audit of recovered allocations (TIDEPOOL_RELEASE_ORPHANS with its period and grace); off when absent. */
  audit?: { intervalMs: number; graceMs: number };
  clock: Clock;
  log: RecoveryLogger;
}

/** An address kept out of the pool after a lost state. */
export interface QuarantinedAddress {
  address: string;
  interfaceId: string;
  since: number;
  until: number;
}

/**
 * The hook the Kubernetes integration (ipamd/kube/) calls once it has a complete list of this node's pods:
 * addresses in quarantine that no pod holds can be freed before the grace ends.
 */
export interface QuarantineControl {
  quarantined(): QuarantinedAddress[];
  /** Frees these quarantined addresses now (they cool down as after a DEL); returns those freed. */
  free(addresses: string[], reason: string): Promise<string[]>;
}

export function readBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

export function readMarker(stateDir: string): NodeMarker | null {
  try {
    const m = JSON.parse(readFileSync(join(stateDir, MARKER_FILE), 'utf8')) as Partial<NodeMarker>;
    return typeof m.bootId === 'string' ? { bootId: m.bootId, createdAt: String(m.createdAt ?? '') } : null;
  } catch {
    return null;
  }
}

function writeMarker(stateDir: string, m: NodeMarker): void {
  const file = join(stateDir, MARKER_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(m) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export class StateRecovery implements QuarantineControl {
  mode: RecoveryMode = 'normal';
  reasons: string[] = [];
  at?: number;
  /** Datapaths the node showed at start (lost state only), and what became of each address. */
  scanned: NodePods | null = null;
  scanError?: string;
  readonly recoveredNow: { address: string; veth: string; interfaceId: string }[] = [];
  readonly quarantinedNow: { address: string; interfaceId: string; why: string }[] = [];
  recoveredTotal = 0;
  recoveredReleasedTotal = 0;
  quarantinedTotal = 0;
  quarantineReleasedTotal = 0;
  private proofs = new Map<string, PodDatapath>();
  private missingBefore = new Set<string>();
  private armed = false;
  private stopping = false;
  private wakeLoop: () => void = () => undefined;
  private loopDone?: Promise<void>;

  constructor(private readonly o: RecoveryOptions) {}

  /** Decides the mode and, on a lost state, reads the node and arms the adoption; before core.start(). */
  async prepare(): Promise<void> {
    let boot = '';
    try {
      boot = (this.o.bootId ?? readBootId)();
    } catch {
      // No boot id: any marker counts as this boot's (the cautious reading).
    }
    const marker = readMarker(this.o.stateDir);
    const sameBoot = marker !== null && (boot === '' || marker.bootId === boot);
    const resumed = !this.o.databaseCreated && (this.o.pending?.get() ?? false);
    if (this.o.databaseCreated || resumed) {
      if (resumed) this.reasons.push('a recovery from a lost state was cut short by a restart');
      try {
        this.scanned = await this.o.readPods();
      } catch (err) {
        this.scanError = (err as Error).message;
      }
      if (marker && sameBoot)
        this.reasons.push(
          `${MARKER_FILE} says a daemon ran on this node since it booted (${marker.createdAt})`,
        );
      if (this.scanned?.veths.length)
        this.reasons.push(`the node has ${this.scanned.veths.length} Tidepool host veths`);
      if (this.scanError) this.reasons.push(`the node's pods could not be read: ${this.scanError}`);
      this.mode = this.reasons.length ? 'lost-state' : 'first-start';
      this.at = this.o.clock.now();
    }
    if (this.mode === 'lost-state') this.arm();
    else if (this.mode === 'first-start')
      this.o.log.info(
        { marker: marker ? `of another boot (${marker.createdAt})` : 'none' },
        'new state database on a node with no Tidepool pods: first start, the cloud addresses are adopted free',
      );
    if (!sameBoot || boot === '' || this.o.databaseCreated) {
      try {
        writeMarker(this.o.stateDir, { bootId: boot, createdAt: new Date(this.o.clock.now()).toISOString() });
      } catch (err) {
        // Advisory: without it, a later loss is still told by the node's veths.
        this.o.log.warn({ err: (err as Error).message }, `cannot write ${MARKER_FILE}`);
      }
    }
  }

  private arm(): void {
    // A veth proves one address: a veth routing several is ambiguous, and all of them stay in quarantine.
    const perVeth = new Map<string, number>();
    for (const d of this.scanned?.datapaths ?? []) perVeth.set(d.veth, (perVeth.get(d.veth) ?? 0) + 1);
    for (const d of this.scanned?.datapaths ?? [])
      if (perVeth.get(d.veth) === 1) this.proofs.set(d.address, d);
    const pool = this.o.core.pool;
    this.o.pending?.set(true);
    this.armed = true;
    pool.onAdded = (interfaceId, ips) => {
      // Only the first listing of the cloud: later additions come from our own cloud calls.
      if (this.o.core.reconciler.ready) pool.onAdded = undefined;
      else this.adopt(interfaceId, ips);
    };
    this.o.log.warn(
      { reasons: this.reasons, routedToVeths: this.scanned?.datapaths.length ?? 0 },
      'the state database was missing or empty, but this node has run pods: recovering the allocations ' +
        'the node proves and quarantining every other address the cloud shows on it',
    );
  }

  /**
   * Call right after core.start() loaded the store, before anything is served: claims the free addresses
   * the store already held (a recovery resumed after a restart that cut it short), and ends the recovery
   * (pending flag cleared, summary logged) once the first listing is claimed.
   */
  claimLoaded(): void {
    if (!this.armed || this.o.core.reconciler.ready) return;
    for (const iface of this.o.core.pool.interfaces.values()) this.adopt(iface.id, [...iface.free]);
    void this.o.core.whenReady().then(
      () => {
        this.armed = false;
        this.o.pending?.set(false);
        this.summarise();
      },
      () => undefined, // stopped before the listing: still pending, the next start recovers again
    );
  }

  /** Claims each address just adopted from the cloud: recovered when proven, quarantined otherwise. */
  private adopt(interfaceId: string, ips: string[]): void {
    const pool = this.o.core.pool;
    const iface = pool.interfaces.get(interfaceId);
    if (!iface) return;
    const table = iface.primary ? MAIN_TABLE : iface.deviceNumber + 1;
    const now = this.o.clock.now();
    for (const ip of ips) {
      const addr = pool.byAddress.get(ip);
      if (!addr || addr.state !== 'free') continue;
      const d = this.proofs.get(ip);
      const why = !d
        ? 'no Tidepool host veth routes it'
        : !d.toRule
          ? `no rule "to ${ip} lookup main" at 512`
          : d.fromTable !== (table === MAIN_TABLE ? undefined : table)
            ? `rule "from ${ip}" at 1536 points at table ${d.fromTable ?? '(none)'}, the interface's is ${table === MAIN_TABLE ? '(none: primary)' : table}`
            : null;
      try {
        if (d && why === null) {
          pool.assign(recoveredKey(d.veth), NO_POD, addr, now);
          this.recoveredNow.push({ address: ip, veth: d.veth, interfaceId });
          this.recoveredTotal++;
        } else {
          pool.assign(quarantineKey(ip), NO_POD, addr, now);
          this.quarantinedNow.push({ address: ip, interfaceId, why: why ?? '' });
          this.quarantinedTotal++;
        }
      } catch (err) {
        this.o.log.warn({ address: ip, err: (err as Error).message }, 'recovery: cannot hold the address');
      }
    }
    this.wakeLoop();
  }

  private summarise(): void {
    const listed = new Set([...this.recoveredNow, ...this.quarantinedNow].map((a) => a.address));
    const unmatched = (this.scanned?.datapaths ?? []).filter((d) => !listed.has(d.address));
    this.o.log.warn(
      {
        recovered: this.recoveredNow.map((r) => `${r.address}@${r.veth}`),
        quarantined: this.quarantinedNow.map((q) => q.address),
        quarantineMs: this.o.quarantineMs,
        notOnThisNode: unmatched.map((d) => `${d.address}@${d.veth}`),
      },
      `lost state recovered: ${this.recoveredNow.length} allocations proven by the node, ` +
        `${this.quarantinedNow.length} addresses quarantined for ${Math.round(this.o.quarantineMs / 1000)} s`,
    );
  }

  quarantined(): QuarantinedAddress[] {
    return [...this.o.core.pool.allocations.values()]
      .filter((a) => a.key.network === QUARANTINE_NETWORK)
      .map((a) => ({
        address: a.address,
        interfaceId: a.interfaceId,
        since: a.allocatedAt,
        until: a.allocatedAt + this.o.quarantineMs,
      }));
  }

  recovered(): StoredAllocation[] {
    return [...this.o.core.pool.allocations.values()].filter((a) => a.key.network === RECOVERED_NETWORK);
  }

  async free(addresses: string[], reason: string): Promise<string[]> {
    const out: string[] = [];
    for (const address of addresses) {
      if (!this.o.core.pool.allocations.has(keyOf(quarantineKey(address)))) continue;
      const r = await this.o.core.release(quarantineKey(address), reason);
      if (!r) continue;
      out.push(address);
      this.quarantineReleasedTotal++;
    }
    if (out.length) this.o.log.info({ addresses: out, reason }, 'released from quarantine');
    return out;
  }

  /**
   * A recovered allocation is released once the node no longer routes its address to its veth, in two
   * audits in a row and past the grace (as ipamd/orphans.ts does by the veth alone): the plugin's DEL
   * removed the veth, or a new sandbox of the same pod took the veth's name with another address.
   */
  async auditRecovered(): Promise<StoredAllocation[]> {
    const held = this.recovered();
    const audit = this.o.audit;
    if (!audit || !held.length) return [];
    let pods: NodePods;
    try {
      pods = await this.o.readPods();
    } catch (err) {
      this.missingBefore = new Set(); // nothing known: release nothing, count misses over
      this.o.log.warn({ err: (err as Error).message }, 'recovery audit: cannot read the node; retried');
      return [];
    }
    const routed = new Set(pods.datapaths.map((d) => `${d.address}@${d.veth}`));
    const now = this.o.clock.now();
    const missingNow = new Set<string>();
    const released: StoredAllocation[] = [];
    for (const a of held) {
      const id = `${a.address}@${a.key.containerId}`;
      if (routed.has(id)) continue;
      if (!this.missingBefore.has(id) || now - a.allocatedAt < audit.graceMs) {
        missingNow.add(id);
        continue;
      }
      const reason = `recovered: ${a.address} no longer routed to ${a.key.containerId}`;
      if (!(await this.o.core.release(a.key, reason))) continue;
      released.push(a);
      this.recoveredReleasedTotal++;
      this.o.log.info({ address: a.address, veth: a.key.containerId }, `released a ${reason}`);
    }
    this.missingBefore = missingNow;
    return released;
  }

  /** Frees quarantined addresses when their grace ends and audits recovered ones, until stop(). */
  start(): void {
    this.loopDone ??= (async () => {
      const every = this.o.audit?.intervalMs ?? Infinity;
      let nextAudit = this.o.clock.now() + every;
      while (!this.stopping) {
        let now = this.o.clock.now();
        const due = this.quarantined()
          .filter((a) => a.until <= now)
          .map((a) => a.address);
        try {
          if (due.length) await this.free(due, `quarantine of ${this.o.quarantineMs} ms over`);
          if (now >= nextAudit) {
            await this.auditRecovered();
            nextAudit = this.o.clock.now() + every;
          }
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message }, 'recovery: release failed; retried');
        }
        if (this.stopping) break;
        now = this.o.clock.now();
        const ends = this.quarantined()
          .map((a) => a.until)
          .filter((t) => t > now);
        const next = Math.min(...ends, nextAudit, now + 60_000);
        await Promise.race([
          this.o.clock.sleep(Math.max(50, next - now)),
          new Promise<void>((r) => (this.wakeLoop = r)),
        ]);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeLoop();
    await this.loopDone;
  }

  /** What /v1/recovery shows. */
  report(): object {
    const iso = (t: number) => new Date(t).toISOString();
    return {
      mode: this.mode,
      reasons: this.reasons,
      at: this.at === undefined ? null : iso(this.at),
      quarantineMs: this.o.quarantineMs,
      scan: this.scanned && {
        veths: this.scanned.veths.length,
        routed: this.scanned.datapaths,
      },
      scanError: this.scanError ?? null,
      recoveredAtStart: this.recoveredNow,
      quarantinedAtStart: this.quarantinedNow,
      recovered: this.recovered().map((a) => ({
        address: a.address,
        veth: a.key.containerId,
        interfaceId: a.interfaceId,
        since: iso(a.allocatedAt),
      })),
      quarantined: this.quarantined().map((q) => ({ ...q, since: iso(q.since), until: iso(q.until) })),
      totals: {
        recovered: this.recoveredTotal,
        quarantined: this.quarantinedTotal,
        releasedFromQuarantine: this.quarantineReleasedTotal,
        recoveredReleased: this.recoveredReleasedTotal,
      },
    };
  }
}

/** The daemon's recovery: its own namespace (no `-n`), the real clock, decided and armed before returning. */
export async function createRecovery(opts: {
  settings: Settings;
  core: IpamCore;
  store: StateStore;
  logger: Logger;
}): Promise<StateRecovery> {
  const exec = new HostExec();
  const r = new StateRecovery({
    core: opts.core,
    stateDir: opts.settings.daemon.stateDir,
    databaseCreated: opts.store.created,
    pending: {
      get: () => opts.store.getMeta(PENDING_KEY) === 'pending',
      set: (on) => opts.store.setMeta(PENDING_KEY, on ? 'pending' : 'done'),
    },
    quarantineMs: opts.settings.network.quarantineMs,
    readPods: () => readNodePods(exec, opts.settings.network.vethPrefix),
    audit: opts.settings.network.releaseOrphans
      ? { intervalMs: opts.settings.network.orphanAuditMs, graceMs: opts.settings.network.orphanGraceMs }
      : undefined,
    clock: opts.core.clock,
    log: opts.logger.child({ component: 'recovery' }),
  });
  await r.prepare();
  return r;
}

const keyOf = (k: AllocationKey) => `${k.network}\u0000${k.containerId}\u0000${k.ifname}`;

/** tidepool_recovered_allocations_total and the quarantine's counters and gauge, on the daemon's registry. */
export async function registerRecoveryMetrics(
  registry: import('prom-client').Registry,
  r: StateRecovery,
): Promise<void> {
  const mod = (await import('prom-client')) as typeof import('prom-client') & {
    default?: typeof import('prom-client');
  };
  const client = mod.default ?? mod;
  const counter = (name: string, help: string, value: () => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        if (value() > 0) this.inc(value());
      },
    });
  counter(
    'tidepool_recovered_allocations_total',
    'Allocations rebuilt from the node (host veth, route, rules) after a lost state database',
    () => r.recoveredTotal,
  );
  counter(
    'tidepool_quarantined_addresses_total',
    'Addresses the cloud showed on the node after a lost state database that the node did not prove held',
    () => r.quarantinedTotal,
  );
  counter(
    'tidepool_recovered_released_total',
    'Recovered allocations released because the node no longer routes their address to their veth',
    () => r.recoveredReleasedTotal,
  );
  counter(
    'tidepool_quarantine_released_total',
    'Quarantined addresses freed (grace over, or no pod holds them)',
    () => r.quarantineReleasedTotal,
  );
  new client.Gauge({
    name: 'tidepool_quarantined_addresses',
    help: 'Addresses kept out of the pool now after a lost state database',
    registers: [registry],
    collect() {
      this.set(r.quarantined().length);
    },
  });
}
