// Where the lab finds Tidepool's executables, and how it starts itself again (for the fabric controller,
// which is the same program run with the internal `_fabric` command).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BINARIES = {
  daemon: 'tidepool-ipamd',
  plugin: 'tidepool',
  sim: 'tidepool-sim',
  azureDouble: 'tidepool-azure-double',
} as const;

export class MissingBinaryError extends Error {
  constructor(path: string) {
    super(`${path} is missing: build Tidepool first (npm run build), or set TIDEPOOL_BIN_DIR`);
    this.name = 'MissingBinaryError';
  }
}

/** dist/bin: $TIDEPOOL_BIN_DIR, else next to this file when bundled into dist/bin, else ../dist/bin. */
export function binDir(): string {
  if (process.env.TIDEPOOL_BIN_DIR) return resolve(process.env.TIDEPOOL_BIN_DIR);
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(resolve(here, BINARIES.daemon))) return here;
  return resolve(here, '..', 'dist', 'bin');
}

export function binary(name: keyof typeof BINARIES): string {
  const path = resolve(binDir(), BINARIES[name]);
  if (!existsSync(path)) throw new MissingBinaryError(path);
  return path;
}

/**
 * The command line that runs this same program with other lab arguments. runLab(argv) is called with
 * the tail of process.argv (`tidepoolctl lab up …` → argv = ['up', …]), so what precedes that tail, with
 * Node's own flags (e.g. tsx's loader), starts the lab again.
 */
export function selfCommand(argv: string[]): string[] {
  if (process.env.TIDEPOOL_LAB_SELF) return JSON.parse(process.env.TIDEPOOL_LAB_SELF) as string[];
  const all = process.argv;
  const tail = all.slice(all.length - argv.length);
  if (argv.length > all.length || tail.some((a, i) => a !== argv[i]))
    throw new Error('cannot tell how to start the lab again: set TIDEPOOL_LAB_SELF to a JSON argv');
  return [process.execPath, ...process.execArgv, ...all.slice(1, all.length - argv.length)];
}
