// WAL checkpoints off the event loop. A checkpoint copies the WAL's pages back into the database and, with
// synchronous=NORMAL, fsyncs the WAL before and the database after: on a disk-backed state directory those
// fsyncs took 30-70 ms, and run on the daemon's thread they stalled every Allocate in flight (the 2-second
// pattern of slow calls in the daemon bench). Here a worker thread holds its own connection to the same
// database and checkpoints it (PASSIVE: it never waits for, nor blocks, the daemon's commits, which go on
// appending to the WAL meanwhile). Should the worker fail to start, the daemon's own connection
// checkpoints on the same schedule, as before.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

// CommonJS run with `eval`: the daemon is one bundled file, so the worker cannot be a module of its own.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = NORMAL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch {
    // A checkpoint that fails leaves the WAL as it was: the next tick retries.
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private worker: Worker | null = null;
  private fallback: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly intervalMs: number,
  ) {}

  /** Starts checkpointing every intervalMs (a no-op for an in-memory database). */
  start(): void {
    if (this.file === ':memory:' || this.stopped) return;
    try {
      const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { sqlite, file: this.file, intervalMs: this.intervalMs },
        // A small heap: the worker holds one connection and one prepared statement.
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      });
      worker.unref();
      worker.on('error', () => this.useFallback());
      this.worker = worker;
    } catch {
      this.useFallback();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.fallback) clearInterval(this.fallback);
    this.fallback = null;
    this.worker?.postMessage('stop');
    this.worker = null;
  }

  /** True when the worker could not run and the daemon's own connection checkpoints. */
  get inProcess(): boolean {
    return this.fallback !== null;
  }

  private useFallback(): void {
    this.worker = null;
    if (this.stopped || this.fallback) return;
    const checkpoint = this.db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    this.fallback = setInterval(() => {
      try {
        checkpoint.get();
      } catch {
        // As in the worker: the next tick retries.
      }
    }, this.intervalMs);
    this.fallback.unref();
  }
}
