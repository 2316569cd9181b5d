// The sim server's state file: the cloud outlives its process as a real cloud outlives a client crash.
// Every mutation is written before its reply is sent (write to a temp file, then rename: a reader or a
// restart sees the old or the new state, never half of one). Writes are group-committed: requests that
// change state while a write is in flight share the next write.

import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SimStateJson } from './model.js';

export function loadState(path: string): SimStateJson | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as SimStateJson;
  } catch (err) {
    throw new Error(
      `sim state file ${path} is not valid JSON (${(err as Error).message}); move it away to start afresh`,
    );
  }
}

export class StateFile {
  private writing: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  private tmp: string;
  private written = -1;

  constructor(
    readonly path: string,
    private readonly snapshot: () => SimStateJson,
    /** The cloud's change counter: ensure(v) returns once a state at least that new is on disk. */
    private readonly version: () => number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = `${path}.tmp-${process.pid}`;
  }

  /** Resolves once a write that started after this call has completed. */
  flush(): Promise<void> {
    if (!this.writing) return (this.writing = this.write());
    // A write is in flight with older state: queue exactly one more, shared by every caller until it starts.
    if (!this.again) {
      this.again = this.writing
        .catch(() => undefined)
        .then(() => {
          this.again = undefined;
          return (this.writing = this.write());
        });
    }
    return this.again;
  }

  /** Resolves once the state of change counter `v` (or newer) is on disk. */
  async ensure(v: number): Promise<void> {
    while (this.written < v) await this.flush();
  }

  private async write(): Promise<void> {
    try {
      const v = this.version();
      await writeFile(this.tmp, JSON.stringify(this.snapshot()));
      renameSync(this.tmp, this.path);
      this.written = Math.max(this.written, v);
    } finally {
      this.writing = undefined;
    }
  }
}
