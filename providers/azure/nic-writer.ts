// One writer per NIC (reference azure-cni-and-cilium-ipam.md E5): every add and release asked for while
// the NIC is being written waits, and the next round merges them all into one PUT of the whole NIC.
// A round: GET the NIC → replace its ipConfigurations (drop the released, append the new, the primary
// untouched) → PUT with If-Match: <etag> → wait for the long-running operation → GET again and compare
// sets. A new address is handed out only when that read-back shows its IP configuration Succeeded.
// - 412 (another writer changed the NIC since our GET, where If-Match is honoured): re-read, re-merge, PUT.
// - 429 RetryableErrorDueToAnotherOperation (the NIC is locked by another operation): wait the advertised
//   Retry-After, then re-read and re-merge (never resend a stale body).
import type { NetworkInterface, NetworkInterfaceIPConfiguration } from '@azure/arm-network';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { CloudError, InUseError, LimitExceededError, ThrottledError, TransientError } from '../errors.js';
import type { Arm } from './arm.js';
import { advertisedDelay, PreconditionFailedError } from './errors.js';
import { AZURE_ADDRESSES_PER_NIC } from './limits.js';

export type AddUnit = 'address' | 'prefix';

interface AddOp {
  kind: 'add';
  unit: AddUnit;
  count: number;
  names: string[];
  resolve: (items: string[]) => void;
  reject: (err: unknown) => void;
}

interface ReleaseOp {
  kind: 'release';
  /** Addresses ("10.0.0.7") or prefixes ("10.0.0.16/28"). */
  items: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

type Op = AddOp | ReleaseOp;

export interface WriterLog {
  debug?(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface NicWriterOptions {
  arm: Arm;
  resourceGroup: string;
  nicName: string;
  clock: Clock;
  log: WriterLog;
  /** Addresses the whole VM may still hold on this NIC (256 per VM, less the other NICs' addresses). */
  vmRoom: () => number;
  /** Rounds that meet 412 or 429 before the writer gives up (the daemon's budget retries later). */
  maxConflicts?: number;
  /** Read-backs that may still show the new IP configurations Updating. */
  readBacks?: number;
  /** Test hook: called after the PUT completed, before the read-back (the crash test kills the process). */
  afterPut?: () => void;
}

/** What an IP configuration holds, as Tidepool names it: "10.0.0.7" or "10.0.0.16/28". */
export function itemOf(ipc: NetworkInterfaceIPConfiguration): string {
  const ip = ipc.privateIPAddress ?? '';
  const len = ipc.privateIPAddressPrefixLength;
  if (!ip) return '';
  if (ip.includes('/')) return ip.endsWith('/32') ? ip.slice(0, -3) : ip;
  return len && len !== 32 ? `${ip}/${len}` : ip;
}

/** Addresses an IP configuration takes from the 256 a NIC and a VM may hold. */
export function weightOf(ipc: NetworkInterfaceIPConfiguration): number {
  const len = ipc.privateIPAddressPrefixLength;
  return len && len < 32 ? 2 ** (32 - len) : 1;
}

const succeeded = (ipc: NetworkInterfaceIPConfiguration | undefined) =>
  !!ipc && (ipc.provisioningState ?? '').toLowerCase() === 'succeeded' && !!itemOf(ipc);

export class NicWriter {
  private pending: Op[] = [];
  private running: Promise<void> | null = null;
  /** Rounds that ended in a PUT, for tests and benchmarks. */
  puts = 0;
  private readonly maxConflicts: number;
  /** IP configurations the current round removes: name → item. */
  private releasedNames = new Map<string, string>();
  private readonly readBacks: number;

  constructor(private readonly o: NicWriterOptions) {
    this.maxConflicts = o.maxConflicts ?? 5;
    this.readBacks = o.readBacks ?? 4;
  }

  add(count: number, unit: AddUnit): Promise<string[]> {
    if (!Number.isInteger(count) || count < 1)
      return Promise.reject(new RangeError(`assign: count must be a positive integer, got ${count}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'add', unit, count, names: [], resolve, reject });
      this.schedule();
    });
  }

  release(items: string[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ kind: 'release', items, resolve, reject });
      this.schedule();
    });
  }

  /** Starts a round on the next turn of the event loop, so that calls made together share one PUT. */
  private schedule() {
    if (this.running) return;
    this.running = new Promise<void>((r) => setImmediate(r))
      .then(() => this.drain())
      .finally(() => {
        this.running = null;
        if (this.pending.length) this.schedule();
      });
  }

  private async drain() {
    while (this.pending.length) {
      const batch = this.pending.splice(0);
      try {
        await this.round(batch);
      } catch (err) {
        for (const op of batch) op.reject(err);
      }
    }
  }

  private async round(batch: Op[]) {
    const adds = batch.filter((o): o is AddOp => o.kind === 'add');
    const releases = new Set(batch.flatMap((o) => (o.kind === 'release' ? o.items : [])));
    let wrote = false;
    for (let conflict = 0; ; conflict++) {
      const nic = await this.o.arm.getNic(this.o.resourceGroup, this.o.nicName);
      const { body, changed } = this.merge(nic, adds, releases);
      if (!changed) break;
      try {
        await this.o.arm.putNic(this.o.resourceGroup, body, nic.etag);
        this.puts++;
        wrote = true;
        break;
      } catch (err) {
        // A 429 is the NIC's lock (RetryableErrorDueToAnotherOperation) or throttling: both name a delay.
        const busy = err instanceof InUseError || err instanceof ThrottledError;
        const retry = err instanceof PreconditionFailedError || busy;
        if (!retry || conflict + 1 >= this.maxConflicts) {
          // The PUT may have happened: the read-back decides.
          if (err instanceof TransientError) {
            wrote = true;
            break;
          }
          throw err;
        }
        const wait = busy ? (advertisedDelay(err) ?? 1000) : 0;
        this.o.log.warn(
          { nic: this.o.nicName, code: err.code, waitMs: wait },
          busy
            ? 'NIC busy with another operation: waiting the advertised delay, then re-reading'
            : 'NIC changed since it was read (etag): re-reading and merging again',
        );
        if (wait) await this.o.clock.sleep(wait);
      }
    }
    if (wrote) this.o.afterPut?.();
    const left = await this.readBack(adds, releases);
    for (const op of batch) {
      if (op.kind !== 'release') continue;
      const stuck = op.items.filter((i) => left.has(i));
      if (!stuck.length) op.resolve();
      else
        op.reject(
          new TransientError(
            `NIC ${this.o.nicName} still holds ${stuck.join(', ')} after the PUT that removed them`,
            'ReleaseNotApplied',
            'PutNetworkInterface',
          ),
        );
    }
  }

  /** The NIC as it must be after this round; fresh names for the new IP configurations. */
  private merge(nic: NetworkInterface, adds: AddOp[], releases: Set<string>) {
    const ipcs = nic.ipConfigurations ?? [];
    const primary = ipcs.find((c) => c.primary) ?? ipcs[0];
    if (!primary?.subnet?.id)
      throw new CloudError(
        `NIC ${this.o.nicName} has no primary IP configuration with a subnet`,
        'NoPrimaryIpConfiguration',
        'PutNetworkInterface',
      );
    const kept = ipcs.filter((c) => c === primary || !releases.has(itemOf(c)));
    this.releasedNames = new Map(
      ipcs.filter((c) => !kept.includes(c)).map((c) => [c.name ?? '', itemOf(c)] as [string, string]),
    );
    const held = kept.reduce((n, c) => n + weightOf(c), 0);
    let room = Math.min(AZURE_ADDRESSES_PER_NIC - held, this.o.vmRoom() - held);
    const added: NetworkInterfaceIPConfiguration[] = [];
    for (const op of adds) {
      const weight = op.unit === 'prefix' ? 16 : 1;
      const n = Math.min(op.count, Math.floor(Math.max(room, 0) / weight));
      room -= n * weight;
      op.names = Array.from({ length: n }, () => `tidepool-${randomBytes(4).toString('hex')}`);
      for (const name of op.names)
        added.push({
          name,
          privateIPAllocationMethod: 'Dynamic',
          privateIPAddressVersion: 'IPv4',
          ...(op.unit === 'prefix' ? { privateIPAddressPrefixLength: 28 } : {}),
          subnet: { id: primary.subnet.id },
          primary: false,
          applicationSecurityGroups: primary.applicationSecurityGroups,
        });
    }
    const full = adds.filter((op) => op.names.length === 0);
    for (const op of full)
      op.reject(
        new LimitExceededError(
          `NIC ${this.o.nicName} cannot take more: it holds ${held} of ${AZURE_ADDRESSES_PER_NIC} private ` +
            `addresses (and the VM at most 256 across its NICs)`,
          'PrivateIPAddressesPerNicLimitExceeded',
          'PutNetworkInterface',
        ),
      );
    adds.splice(0, adds.length, ...adds.filter((op) => op.names.length > 0));
    const changed = kept.length !== ipcs.length || added.length > 0;
    return { body: { ...nic, ipConfigurations: [...kept, ...added] }, changed };
  }

  /** GET after the write; resolves each add with what the NIC really holds now; returns releases not done. */
  private async readBack(adds: AddOp[], releases: Set<string>): Promise<Set<string>> {
    let nic: NetworkInterface | null = null;
    for (let look = 0; look < this.readBacks; look++) {
      if (look > 0) await this.o.clock.sleep(250 * 2 ** (look - 1));
      nic = await this.o.arm.getNic(this.o.resourceGroup, this.o.nicName);
      const byName = new Map((nic.ipConfigurations ?? []).map((c) => [c.name ?? '', c]));
      const settling = adds.some((op) =>
        op.names.some(
          (n) => byName.has(n) && !succeeded(byName.get(n)) && byName.get(n)!.provisioningState !== 'Failed',
        ),
      );
      if (!settling) break;
    }
    const ipcs = nic?.ipConfigurations ?? [];
    const byName = new Map(ipcs.map((c) => [c.name ?? '', c]));
    for (const op of adds) {
      const got = op.names.filter((n) => succeeded(byName.get(n))).map((n) => itemOf(byName.get(n)!));
      if (got.length < op.names.length)
        this.o.log.warn(
          { nic: this.o.nicName, asked: op.names.length, succeeded: got.length },
          'some new IP configurations are not Succeeded in the read-back; they are not handed out',
        );
      op.resolve(got);
    }
    // By name: the subnet may hand a released address straight to one of this round's new configurations.
    const stillNamed = new Set([...this.releasedNames.keys()].filter((n) => byName.has(n)));
    const stuck = new Set([...this.releasedNames].filter(([n]) => stillNamed.has(n)).map(([, item]) => item));
    return new Set([...releases].filter((r) => stuck.has(r)));
  }
}
