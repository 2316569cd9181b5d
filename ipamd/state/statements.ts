// Every statement the store runs, prepared once when the database opens.

import type Database from 'better-sqlite3';

export function prepareStatements(db: Database.Database) {
  return {
    allInterfaces: db.prepare('SELECT * FROM interfaces ORDER BY device_number'),
    allPrefixes: db.prepare('SELECT * FROM prefixes'),
    allAddresses: db.prepare('SELECT * FROM addresses'),
    allAllocations: db.prepare('SELECT * FROM allocations'),
    upsertInterface: db.prepare(
      `INSERT INTO interfaces (id, device_number, mac, subnet_id, subnet_cidr, primary_address, is_primary, attached_at)
       VALUES (@id, @device_number, @mac, @subnet_id, @subnet_cidr, @primary_address, @is_primary, @attached_at)
       ON CONFLICT(id) DO UPDATE SET device_number = excluded.device_number, mac = excluded.mac,
         subnet_id = excluded.subnet_id, subnet_cidr = excluded.subnet_cidr,
         primary_address = excluded.primary_address, is_primary = excluded.is_primary`,
    ),
    deleteInterface: db.prepare('DELETE FROM interfaces WHERE id = ?'),
    deleteAllocationsOfInterface: db.prepare(
      'DELETE FROM allocations WHERE address IN (SELECT address FROM addresses WHERE interface_id = ?)',
    ),
    insertPrefix: db.prepare(
      'INSERT OR IGNORE INTO prefixes (prefix, interface_id, added_at) VALUES (?, ?, ?)',
    ),
    insertAddress: db.prepare(
      `INSERT OR IGNORE INTO addresses (address, interface_id, prefix, state, cooling_until, added_at)
       VALUES (?, ?, ?, 'free', NULL, ?)`,
    ),
    deleteAddress: db.prepare('DELETE FROM addresses WHERE address = ?'),
    deletePrefix: db.prepare('DELETE FROM prefixes WHERE prefix = ?'),
    deleteAllocationOfAddress: db.prepare('DELETE FROM allocations WHERE address = ?'),
    deleteAllocationsOfPrefix: db.prepare(
      'DELETE FROM allocations WHERE address IN (SELECT address FROM addresses WHERE prefix = ?)',
    ),
    markAssigned: db.prepare(
      "UPDATE addresses SET state = 'assigned', cooling_until = NULL WHERE address = ? AND state != 'assigned'",
    ),
    markCooling: db.prepare("UPDATE addresses SET state = 'cooling', cooling_until = ? WHERE address = ?"),
    insertAllocation: db.prepare(
      `INSERT INTO allocations (network, container_id, ifname, pod_namespace, pod_name, pod_uid, netns, address,
         interface_id, allocated_at)
       VALUES (@network, @container_id, @ifname, @pod_namespace, @pod_name, @pod_uid, @netns, @address,
         @interface_id, @allocated_at)`,
    ),
    getAllocation: db.prepare(
      'SELECT * FROM allocations WHERE network = ? AND container_id = ? AND ifname = ?',
    ),
    deleteAllocation: db.prepare(
      'DELETE FROM allocations WHERE network = ? AND container_id = ? AND ifname = ?',
    ),
    insertIntent: db.prepare('INSERT INTO intents (kind, details, created_at) VALUES (?, ?, ?)'),
    updateIntent: db.prepare('UPDATE intents SET details = ? WHERE id = ?'),
    deleteIntent: db.prepare('DELETE FROM intents WHERE id = ?'),
    allIntents: db.prepare('SELECT * FROM intents ORDER BY id'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    putMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
