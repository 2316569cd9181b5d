// Keeps the daemon's "ready" beat (proto/ready-beat.ts) beside its socket: rewritten every READY_BEAT_MS
// while the daemon would answer STATUS ready, removed at once when it would not. stop() stops beating and
// leaves the last beat, so a plugin's STATUS during a restart sees that the daemon was ready a moment ago.
import { READY_BEAT_MS, removeReadyBeat, writeReadyBeat } from '../../proto/ready-beat.js';

export interface BeatLogger {
  warn(obj: object, msg: string): void;
}

export class ReadyBeater {
  private timer?: NodeJS.Timeout;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly socket: string,
    private readonly ready: () => boolean,
    private readonly log: BeatLogger,
  ) {}

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), READY_BEAT_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Beats now (the readiness changed): written if ready, removed if not. */
  beat(): void {
    if (this.stopped) return;
    try {
      if (this.ready()) writeReadyBeat(this.socket, Date.now());
      else removeReadyBeat(this.socket);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ err }, 'cannot write the ready beat beside the socket');
      this.failing = true;
    }
  }
}
