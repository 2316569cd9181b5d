// The daemon's state store: one SQLite database (better-sqlite3, WAL) holding interfaces, prefixes,
// addresses with their cooldowns, allocations and the intent journal (ARCHITECTURE section 5).
//
// Durability: journal_mode=WAL with synchronous=NORMAL. A commit is in the WAL (the OS page cache) when
// the call returns, so it survives the daemon being killed at any instant (kill -9, OOM, crash), which is
// the failure the daemon must ride through. What NORMAL gives up is the last commits on a power loss or
// kernel crash, where the node reboots and every pod sandbox is recreated (new ADDs) anyway; FULL would
// put an fsync on every ADD and DEL, the incumbent's bottleneck (reference aws-vpc-cni.md 3.11).
//
// Every allocation and release is one transaction; statements are prepared once. Calls are synchronous,
// so an allocation cannot interleave with another in the daemon's single thread.
//
// One daemon per state directory: the daemon holds an exclusive lock on a companion file (<db>.lock, a
// SQLite database opened with locking_mode=EXCLUSIVE and written once) for as long as it runs, and a second
// daemon pointed at the same directory is refused instead of writing beside the first. The kernel drops the
// lock when the process dies, so a restart after kill -9 takes it at once. The database itself is opened in
// the normal locking mode, so that a second connection of our own can checkpoint it.
//
// Checkpoints: SQLite's automatic checkpoint (every 1000 WAL pages) ran inside whichever commit crossed the
// mark, copying the pages back and fsyncing the database on an ADD's path. A worker thread checkpoints
// instead (checkpointer.ts: PASSIVE, every CHECKPOINT_MS, its fsyncs off the event loop); the automatic
// checkpoint stays as a backstop at a larger WAL. Durability is unchanged: a commit is in the WAL before the
// call returns, and a restart replays the WAL.

import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { IntentJournal, OpenIntent } from '../../providers/types.js';
import type { AllocationKey, PodRef } from '../core/types.js';
import { Checkpointer } from './checkpointer.js';
import { MIGRATIONS, SCHEMA_NAME, SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';
import { prepareStatements, type Statements } from './statements.js';

const CHECKPOINT_MS = 2_000;
/** Backstop: a WAL that grows past this many pages (4 KiB each) between timer checkpoints is checkpointed. */
const AUTOCHECKPOINT_PAGES = 16_000;

export type AddressState = 'free' | 'assigned' | 'cooling';

export interface StoredInterface {
  id: string;
  deviceNumber: number;
  mac: string;
  subnetId: string;
  subnetCidr: string;
  primaryAddress: string;
  primary: boolean;
  attachedAt: number;
}

export interface StoredAddress {
  address: string;
  interfaceId: string;
  prefix: string | null;
  state: AddressState;
  coolingUntil: number | null;
  addedAt: number;
}

export interface StoredPrefix {
  prefix: string;
  interfaceId: string;
  addedAt: number;
}

export interface StoredAllocation {
  key: AllocationKey;
  pod: PodRef;
  address: string;
  interfaceId: string;
  allocatedAt: number;
}

export interface StoreContents {
  interfaces: StoredInterface[];
  prefixes: StoredPrefix[];
  addresses: StoredAddress[];
  allocations: StoredAllocation[];
}

/** True when MIGRATIONS holds every step from `from` up to `to`. */
export function hasPath(migrations: Readonly<Record<number, string>>, from: number, to: number): boolean {
  for (let v = from; v < to; v++) if (migrations[v] === undefined) return false;
  return true;
}

/**
 * Takes an open state database of version `from` to version `to`: first a copy of it beside the file
 * (`<file>.v<from>.bak`, by VACUUM INTO, so an operator can roll the daemon back to the build that wrote it),
 * then every step from `from` in one transaction with the new version number, so that a failing step leaves
 * the database as it was. Returns the copy's path (null for ":memory:").
 */
export function migrateForward(
  db: Database.Database,
  file: string,
  from: number,
  to: number,
  migrations: Readonly<Record<number, string>>,
): string | null {
  if (!hasPath(migrations, from, to))
    throw new StoreSchemaError(`state database ${file}: no migration from schema version ${from} to ${to}`);
  let backup: string | null = null;
  if (file !== ':memory:') {
    backup = `${file}.v${from}.bak`;
    rmSync(backup, { force: true });
    db.prepare('VACUUM INTO ?').run(backup);
  }
  try {
    db.transaction(() => {
      for (let v = from; v < to; v++) db.exec(migrations[v]);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(to));
    })();
  } catch (err) {
    throw new StoreSchemaError(
      `state database ${file}: migrating from schema version ${from} to ${to} failed ` +
        `(${(err as Error).message}); the database is unchanged` +
        (backup ? ` and a copy of it is in ${backup}` : ''),
    );
  }
  return backup;
}

/** The database was written by another schema version or another program: refused, left untouched. */
export class StoreSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreSchemaError';
  }
}

/** An allocation could not be recorded (the address is gone or already held). */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

export class StateStore implements IntentJournal {
  private readonly db: Database.Database;
  private readonly st: Statements;
  private closed = false;
  /** True when this open created the schema: the file was missing or empty (ipamd/recovery.ts). */
  created = false;
  // The per-call transactions, wrapped once: db.transaction() builds its wrapper functions on every call,
  // a visible share of the store's time per Allocate in a profile.
  private readonly allocateTx: (a: StoredAllocation) => void;
  private readonly releaseTx: (key: AllocationKey, coolingUntil: number) => StoredAllocation | null;
  private readonly lock: Database.Database | null;
  private readonly checkpointer: Checkpointer;
  private readonly checkpointStart: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    private readonly now: () => number,
    busyTimeoutMs: number,
    checkpointMs: number,
  ) {
    this.lock = file === ':memory:' ? null : holdLock(file, busyTimeoutMs);
    try {
      this.db = new Database(file);
      this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      this.db.pragma('journal_mode = WAL');
    } catch (err) {
      this.lock?.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(file);
      throw new StoreSchemaError(
        `state database ${file} cannot be opened as SQLite (${(err as Error).message}); ` +
          `it is not a Tidepool state database: move it aside to start with an empty state`,
      );
    }
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    try {
      this.checkOrCreateSchema();
    } catch (err) {
      this.db.close();
      this.lock?.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(file);
      throw err;
    }
    this.st = prepareStatements(this.db);
    this.allocateTx = this.db.transaction((a: StoredAllocation) => {
      const changed = this.st.markAssigned.run(a.address).changes;
      if (changed !== 1)
        throw new StoreConflictError(`address ${a.address} is not in the store or is already assigned`);
      this.st.insertAllocation.run({
        network: a.key.network,
        container_id: a.key.containerId,
        ifname: a.key.ifname,
        pod_namespace: a.pod.namespace,
        pod_name: a.pod.name,
        pod_uid: a.pod.uid,
        netns: a.pod.netns,
        address: a.address,
        interface_id: a.interfaceId,
        allocated_at: a.allocatedAt,
      });
    });
    this.releaseTx = this.db.transaction((key: AllocationKey, coolingUntil: number) => {
      const row = this.st.getAllocation.get(key.network, key.containerId, key.ifname);
      if (!row) return null;
      const alloc = rowToAllocation(row);
      this.st.deleteAllocation.run(key.network, key.containerId, key.ifname);
      this.st.markCooling.run(coolingUntil, alloc.address);
      return alloc;
    });
    // The worker starts with the first checkpoint: a store opened and closed within that time (a tool, a
    // test) never pays for a thread.
    this.checkpointer = new Checkpointer(this.db, file, checkpointMs);
    this.checkpointStart = setTimeout(() => this.checkpointer.start(), checkpointMs);
    this.checkpointStart.unref();
  }

  /** Opens (or creates) the database at `file` (":memory:" for tests); refuses a foreign schema. */
  static open(
    file: string,
    now: () => number = Date.now,
    opts: { busyTimeoutMs?: number; checkpointMs?: number } = {},
  ): StateStore {
    return new StateStore(file, now, opts.busyTimeoutMs ?? 5_000, opts.checkpointMs ?? CHECKPOINT_MS);
  }

  private checkOrCreateSchema(): void {
    const tables = this.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string }[];
    if (tables.length === 0) {
      this.created = true;
      this.db.transaction(() => {
        this.db.exec(SCHEMA_SQL);
        const put = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('schema_name', SCHEMA_NAME);
        put.run('schema_version', String(SCHEMA_VERSION));
      })();
      return;
    }
    const refuse = (found: string) =>
      new StoreSchemaError(
        `state database ${this.file} has ${found}; this tidepool-ipamd reads ${SCHEMA_NAME} schema version ` +
          `${SCHEMA_VERSION}. Refusing to use or change it: run the tidepool-ipamd version that wrote it, ` +
          `or move the file aside to start with an empty state (allocations are then rebuilt from the cloud).`,
      );
    if (!tables.some((t) => t.name === 'meta'))
      throw refuse(`no schema version (tables: ${tables.map((t) => t.name).join(', ')})`);
    const meta = new Map(
      (this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [
        r.key,
        r.value,
      ]),
    );
    const name = meta.get('schema_name');
    const version = meta.get('schema_version');
    if (name === SCHEMA_NAME && version === String(SCHEMA_VERSION)) return;
    const from = Number(version);
    const older = name === SCHEMA_NAME && /^[0-9]+$/.test(version ?? '') && from < SCHEMA_VERSION;
    if (!older || !hasPath(MIGRATIONS, from, SCHEMA_VERSION))
      throw refuse(
        `schema ${name ?? '(none)'} version ${version ?? '(none)'}` +
          (older ? ' and no migration from it' : ''),
      );
    migrateForward(this.db, this.file, from, SCHEMA_VERSION, MIGRATIONS);
  }

  load(): StoreContents {
    return {
      interfaces: (this.st.allInterfaces.all() as any[]).map((r) => ({
        id: r.id,
        deviceNumber: r.device_number,
        mac: r.mac,
        subnetId: r.subnet_id,
        subnetCidr: r.subnet_cidr,
        primaryAddress: r.primary_address,
        primary: r.is_primary === 1,
        attachedAt: r.attached_at,
      })),
      prefixes: (this.st.allPrefixes.all() as any[]).map((r) => ({
        prefix: r.prefix,
        interfaceId: r.interface_id,
        addedAt: r.added_at,
      })),
      addresses: (this.st.allAddresses.all() as any[]).map((r) => ({
        address: r.address,
        interfaceId: r.interface_id,
        prefix: r.prefix,
        state: r.state,
        coolingUntil: r.cooling_until,
        addedAt: r.added_at,
      })),
      allocations: (this.st.allAllocations.all() as any[]).map(rowToAllocation),
    };
  }

  putInterface(i: StoredInterface): void {
    this.st.upsertInterface.run({
      id: i.id,
      device_number: i.deviceNumber,
      mac: i.mac,
      subnet_id: i.subnetId,
      subnet_cidr: i.subnetCidr,
      primary_address: i.primaryAddress,
      is_primary: i.primary ? 1 : 0,
      attached_at: i.attachedAt,
    });
  }

  /** Removes an interface with its prefixes, addresses and (force-removed) allocations. */
  removeInterface(id: string): void {
    this.db.transaction(() => {
      this.st.deleteAllocationsOfInterface.run(id);
      this.st.deleteInterface.run(id);
    })();
  }

  /** Adds secondary addresses (or, with `prefix`, a prefix and its addresses) as free. */
  addAddresses(interfaceId: string, addresses: string[], prefix?: string): void {
    const at = this.now();
    this.db.transaction(() => {
      if (prefix) this.st.insertPrefix.run(prefix, interfaceId, at);
      for (const a of addresses) this.st.insertAddress.run(a, interfaceId, prefix ?? null, at);
    })();
  }

  /** Removes addresses and prefixes (released to the cloud, or gone from it) and any allocation on them. */
  removeAddresses(addresses: string[], prefixes: string[] = []): void {
    this.db.transaction(() => {
      for (const a of addresses) {
        this.st.deleteAllocationOfAddress.run(a);
        this.st.deleteAddress.run(a);
      }
      for (const p of prefixes) {
        this.st.deleteAllocationsOfPrefix.run(p);
        this.st.deletePrefix.run(p);
      }
    })();
  }

  /** Records an allocation and marks its address assigned, in one transaction. */
  allocate(a: StoredAllocation): void {
    this.allocateTx(a);
  }

  /** Deletes the allocation of `key` and starts its address's cooldown, in one transaction. */
  release(key: AllocationKey, coolingUntil: number): StoredAllocation | null {
    return this.releaseTx(key, coolingUntil);
  }

  /** A flag of another module in the meta table (ipamd/recovery.ts: a recovery in progress). */
  getMeta(key: string): string | undefined {
    return (this.st.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.st.putMeta.run(key, value);
  }

  /** The instance whose pool this database holds (set once the node is described). */
  instanceId(): string | undefined {
    return (this.st.getMeta.get('instance_id') as { value: string } | undefined)?.value;
  }

  setInstanceId(id: string): void {
    this.st.putMeta.run('instance_id', id);
  }

  // IntentJournal: providers record cloud calls in flight so a crash can be repaired on restart.
  begin(kind: string, details: Record<string, unknown>): number {
    return Number(this.st.insertIntent.run(kind, JSON.stringify(details), this.now()).lastInsertRowid);
  }

  update(id: number, details: Record<string, unknown>): void {
    this.st.updateIntent.run(JSON.stringify(details), id);
  }

  end(id: number): void {
    this.st.deleteIntent.run(id);
  }

  openIntents(): OpenIntent[] {
    return (this.st.allIntents.all() as any[]).map((r) => ({
      id: r.id,
      kind: r.kind,
      details: JSON.parse(r.details),
      createdAt: r.created_at,
    }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.checkpointStart);
    this.checkpointer.stop();
    this.db.close();
    this.lock?.close();
  }

  /** How the WAL is checkpointed: by the worker thread, or (when it could not start) on the daemon's thread. */
  get checkpointsInProcess(): boolean {
    return this.checkpointer.inProcess;
  }

  get isOpen(): boolean {
    return !this.closed;
  }
}

/** The database is held by another process: another daemon on the same state directory. */
export class StoreInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreInUseError';
  }
}

/**
 * Takes the exclusive lock of `<file>.lock` and keeps it (locking_mode=EXCLUSIVE keeps the locks a
 * connection has taken until it closes): a second daemon on the same state directory fails here.
 */
function holdLock(file: string, busyTimeoutMs: number): Database.Database {
  const lock = new Database(`${file}.lock`);
  try {
    lock.pragma(`busy_timeout = ${busyTimeoutMs}`);
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
    return lock;
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(file);
    throw err;
  }
}

function inUse(file: string): StoreInUseError {
  return new StoreInUseError(
    `state database ${file} is locked by another process (another tidepool-ipamd on the same ` +
      `TIDEPOOL_STATE_DIR?); stop it first: two daemons must never hand out the same node's addresses`,
  );
}

function rowToAllocation(r: any): StoredAllocation {
  return {
    key: { network: r.network, containerId: r.container_id, ifname: r.ifname },
    pod: { namespace: r.pod_namespace, name: r.pod_name, uid: r.pod_uid, netns: r.netns },
    address: r.address,
    interfaceId: r.interface_id,
    allocatedAt: r.allocated_at,
  };
}
