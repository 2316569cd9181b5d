import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hasPath,
  migrateForward,
  StateStore,
  StoreConflictError,
  StoreInUseError,
  StoreSchemaError,
} from '../../ipamd/state/store.js';

let dir: string;
const now = 1_000_000;
const clock = () => now;
const pod = { namespace: 'default', name: 'web-1', uid: 'uid-1', netns: '/var/run/netns/x' };
const key = (id: string) => ({ network: 'tidepool', containerId: id, ifname: 'eth0' });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'core-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function seeded(file = join(dir, 'state.db')): StateStore {
  const s = StateStore.open(file, clock);
  s.putInterface({
    id: 'eni-0',
    deviceNumber: 0,
    mac: '02:00:00:00:00:01',
    subnetId: 'subnet-a',
    subnetCidr: '10.0.0.0/24',
    primaryAddress: '10.0.0.5',
    primary: true,
    attachedAt: 0,
  });
  s.addAddresses('eni-0', ['10.0.0.10', '10.0.0.11']);
  return s;
}

/** A state database written by this build, then marked as of another schema version. */
function storeOfVersion(version: string): string {
  const file = join(dir, 'state.db');
  StateStore.open(file, clock).close();
  const raw = new Database(file);
  raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(version);
  raw.close();
  return file;
}

describe('state store', () => {
  test('an allocation and its address state survive a reopen; a release starts a persisted cooldown', () => {
    const file = join(dir, 'state.db');
    const s = seeded(file);
    s.allocate({ key: key('c1'), pod, address: '10.0.0.10', interfaceId: 'eni-0', allocatedAt: now });
    s.close();

    const s2 = StateStore.open(file, clock);
    const c = s2.load();
    expect(c.allocations).toEqual([
      { key: key('c1'), pod, address: '10.0.0.10', interfaceId: 'eni-0', allocatedAt: now },
    ]);
    expect(c.addresses.find((a) => a.address === '10.0.0.10')?.state).toBe('assigned');
    expect(s2.release(key('c1'), now + 30_000)?.address).toBe('10.0.0.10');
    expect(s2.release(key('c1'), now + 30_000)).toBeNull(); // idempotent
    s2.close();

    const s3 = StateStore.open(file, clock);
    const a = s3.load().addresses.find((x) => x.address === '10.0.0.10');
    expect(a).toMatchObject({ state: 'cooling', coolingUntil: now + 30_000 });
    expect(s3.load().allocations).toEqual([]);
    s3.close();
  });

  test('the database refuses to give one address to two allocations', () => {
    const s = seeded();
    s.allocate({ key: key('c1'), pod, address: '10.0.0.10', interfaceId: 'eni-0', allocatedAt: now });
    expect(() =>
      s.allocate({ key: key('c2'), pod, address: '10.0.0.10', interfaceId: 'eni-0', allocatedAt: now }),
    ).toThrow(StoreConflictError);
    expect(() =>
      s.allocate({ key: key('c3'), pod, address: '10.9.9.9', interfaceId: 'eni-0', allocatedAt: now }),
    ).toThrow(/not in the store/);
    expect(s.load().allocations).toHaveLength(1);
    s.close();
  });

  test('removing an interface removes its addresses, prefixes and allocations', () => {
    const s = seeded();
    s.addAddresses('eni-0', ['10.0.1.0', '10.0.1.1'], '10.0.1.0/28');
    s.allocate({ key: key('c1'), pod, address: '10.0.1.1', interfaceId: 'eni-0', allocatedAt: now });
    s.removeAddresses([], ['10.0.1.0/28']);
    expect(
      s
        .load()
        .addresses.map((a) => a.address)
        .sort(),
    ).toEqual(['10.0.0.10', '10.0.0.11']);
    expect(s.load().allocations).toEqual([]);
    s.removeInterface('eni-0');
    expect(s.load()).toEqual({ interfaces: [], prefixes: [], addresses: [], allocations: [] });
    s.close();
  });

  test('the intent journal keeps open intents across a reopen until they end', () => {
    const file = join(dir, 'state.db');
    const s = StateStore.open(file, clock);
    const id = s.begin('attachInterface', { clientToken: 't1' });
    s.update(id, { clientToken: 't1', interfaceId: 'eni-9' });
    const done = s.begin('detach', { interfaceId: 'eni-8' });
    s.end(done);
    s.close();
    const s2 = StateStore.open(file, clock);
    expect(s2.openIntents()).toEqual([
      { id, kind: 'attachInterface', details: { clientToken: 't1', interfaceId: 'eni-9' }, createdAt: now },
    ]);
    s2.close();
  });

  test('a database of a newer schema version is refused, naming the file and both versions, and left intact', () => {
    const file = storeOfVersion('7');
    expect(() => StateStore.open(file, clock)).toThrow(StoreSchemaError);
    expect(() => StateStore.open(file, clock)).toThrow(
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has schema tidepool-ipamd version 7; .*schema version 1`,
      ),
    );
    const check = new Database(file);
    expect(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({
      value: '7',
    });
    check.close();
  });

  test('an older schema version with no migration from it is refused and left intact', () => {
    const file = storeOfVersion('0');
    expect(() => StateStore.open(file, clock)).toThrow(
      /version 0 and no migration from it; .*schema version 1/,
    );
    const check = new Database(file);
    expect(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({
      value: '0',
    });
    check.close();
    expect(existsSync(`${file}.v0.bak`)).toBe(false);
  });

  describe('forward migrations', () => {
    // A version-1 database with one allocation, and two steps after it as a later schema would add them.
    const steps = {
      1: 'ALTER TABLE allocations ADD COLUMN note TEXT',
      2: 'CREATE INDEX allocations_by_pod ON allocations(pod_namespace, pod_name)',
    };
    const v1 = () => {
      const file = join(dir, 'state.db');
      const s = seeded(file);
      s.allocate({ key: key('c1'), pod, address: '10.0.0.10', interfaceId: 'eni-0', allocatedAt: now });
      s.close();
      return file;
    };
    const version = (db: Database.Database) =>
      (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value;
    const columns = (db: Database.Database) =>
      (db.prepare('PRAGMA table_info(allocations)').all() as { name: string }[]).map((c) => c.name);

    test('takes a database through every step, keeps its rows, and leaves a copy of the old one', () => {
      const file = v1();
      const db = new Database(file);
      expect(migrateForward(db, file, 1, 3, steps)).toBe(`${file}.v1.bak`);
      expect(version(db)).toBe('3');
      expect(columns(db)).toContain('note');
      expect(
        db.prepare("SELECT name FROM sqlite_master WHERE name = 'allocations_by_pod'").get(),
      ).toBeTruthy();
      expect(db.prepare('SELECT address FROM allocations').all()).toEqual([{ address: '10.0.0.10' }]);
      db.close();
      const old = new Database(`${file}.v1.bak`);
      expect([version(old), columns(old).includes('note')]).toEqual(['1', false]);
      expect(old.prepare('SELECT address FROM allocations').all()).toEqual([{ address: '10.0.0.10' }]);
      old.close();
    });

    test('a failing step leaves the database as it was (one transaction), naming both versions', () => {
      const file = v1();
      const db = new Database(file);
      expect(() =>
        migrateForward(db, file, 1, 3, { ...steps, 2: 'CREATE INDEX x ON no_such_table(a)' }),
      ).toThrow(
        /migrating from schema version 1 to 3 failed \(no such table: main.no_such_table\); the database is unchanged and a copy of it is in .*state.db.v1.bak/,
      );
      expect([version(db), columns(db).includes('note')]).toEqual(['1', false]);
      db.close();
      // and the daemon of this build still opens it
      StateStore.open(file, clock).close();
    });

    test('a missing step is refused before anything is written', () => {
      const file = v1();
      const db = new Database(file);
      expect(() => migrateForward(db, file, 1, 3, { 1: steps[1] })).toThrow(
        /no migration from schema version 1 to 3/,
      );
      expect(version(db)).toBe('1');
      db.close();
      expect(existsSync(`${file}.v1.bak`)).toBe(false);
    });

    test.each([
      [1, 3, true],
      [2, 3, true],
      [1, 4, false],
      [0, 3, false],
      [3, 3, true],
    ])('hasPath(%p → %p) is %p', (from, to, want) => {
      expect(hasPath(steps, from, to)).toBe(want);
    });
  });

  test('a foreign SQLite database and a non-SQLite file are refused', () => {
    const foreign = join(dir, 'foreign.db');
    const raw = new Database(foreign);
    raw.exec('CREATE TABLE pods (id TEXT)');
    raw.close();
    expect(() => StateStore.open(foreign, clock)).toThrow(/no schema version \(tables: pods\)/);
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a database, it is a text file of some length '.repeat(100));
    expect(() => StateStore.open(junk, clock)).toThrow(StoreSchemaError);
  });

  test('a second daemon on the same database is refused while the first holds it, and admitted after', () => {
    const file = join(dir, 'state.db');
    const first = seeded(file);
    expect(() => StateStore.open(file, clock, { busyTimeoutMs: 0 })).toThrow(StoreInUseError);
    expect(() => StateStore.open(file, clock, { busyTimeoutMs: 0 })).toThrow(/locked by another process/);
    first.close();
    const second = StateStore.open(file, clock, { busyTimeoutMs: 0 });
    expect(second.load().addresses).toHaveLength(2);
    second.close();
  });

  test('a worker thread checkpoints the WAL into the database file while the daemon goes on committing', async () => {
    const file = join(dir, 'state.db');
    const s = StateStore.open(file, clock, { checkpointMs: 100 });
    s.putInterface({
      id: 'eni-0',
      deviceNumber: 0,
      mac: '02:00:00:00:00:01',
      subnetId: 'subnet-a',
      subnetCidr: '10.0.0.0/16',
      primaryAddress: '10.0.0.5',
      primary: true,
      attachedAt: 0,
    });
    const addresses = Array.from({ length: 2000 }, (_, i) => `10.0.${8 + (i >> 8)}.${i & 255}`);
    s.addAddresses('eni-0', addresses);
    // Until a checkpoint, new pages live only in the WAL: the database file keeps its size.
    const before = statSync(file).size;
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(64 * 1024);
    const deadline = Date.now() + 10_000;
    while (statSync(file).size === before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(statSync(file).size).toBeGreaterThan(before);
    expect(s.checkpointsInProcess).toBe(false); // done by the worker, not on this thread
    // Commits go on while the worker holds its own connection, and a reopen sees all of them.
    s.allocate({ key: key('c1'), pod, address: addresses[1999], interfaceId: 'eni-0', allocatedAt: now });
    s.close();
    const again = StateStore.open(file, clock);
    expect(again.load().addresses).toHaveLength(2000);
    expect(again.load().allocations).toHaveLength(1);
    again.close();
  });
});
