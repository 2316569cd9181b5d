// The state database's schema. SCHEMA_VERSION is written into meta.schema_version. An older database is
// migrated forward on open (MIGRATIONS, store.ts migrateForward: a copy of the file is kept first, and all
// steps run in one transaction); a newer one, an older one without a path of migrations, or one that is not
// ours at all is refused, never rewritten.

export const SCHEMA_VERSION = 1;
export const SCHEMA_NAME = 'tidepool-ipamd';

/**
 * Forward migrations, by the version they start from: MIGRATIONS[n] is the SQL that takes a database of
 * version n to version n + 1 (the version number itself is written by migrateForward). When SCHEMA_SQL
 * changes, SCHEMA_VERSION goes up by one and the step from the previous version is added here, so that a
 * rolling upgrade (helm upgrade) opens every node's state as it was left. Version 1 is the first schema: no
 * step yet.
 */
export const MIGRATIONS: Readonly<Record<number, string>> = {};

export const SCHEMA_SQL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE interfaces (
  id              TEXT PRIMARY KEY,
  device_number   INTEGER NOT NULL,
  mac             TEXT NOT NULL,
  subnet_id       TEXT NOT NULL,
  subnet_cidr     TEXT NOT NULL,
  primary_address TEXT NOT NULL,
  is_primary      INTEGER NOT NULL,
  attached_at     INTEGER NOT NULL
);
CREATE TABLE prefixes (
  prefix       TEXT PRIMARY KEY,
  interface_id TEXT NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
  added_at     INTEGER NOT NULL
);
CREATE TABLE addresses (
  address       TEXT PRIMARY KEY,
  interface_id  TEXT NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
  prefix        TEXT REFERENCES prefixes(prefix) ON DELETE CASCADE,
  state         TEXT NOT NULL CHECK (state IN ('free', 'assigned', 'cooling')),
  cooling_until INTEGER,
  added_at      INTEGER NOT NULL
);
CREATE INDEX addresses_by_interface ON addresses(interface_id);
CREATE TABLE allocations (
  network       TEXT NOT NULL,
  container_id  TEXT NOT NULL,
  ifname        TEXT NOT NULL,
  pod_namespace TEXT NOT NULL,
  pod_name      TEXT NOT NULL,
  pod_uid       TEXT NOT NULL,
  netns         TEXT NOT NULL,
  -- UNIQUE: no address is ever held by two allocations, whatever the code above does.
  address       TEXT NOT NULL UNIQUE REFERENCES addresses(address),
  interface_id  TEXT NOT NULL,
  allocated_at  INTEGER NOT NULL,
  PRIMARY KEY (network, container_id, ifname)
);
CREATE TABLE intents (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,
  details    TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
`;
