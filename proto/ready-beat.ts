// The daemon's "ready" beat: a small file beside its socket (<socket>.ready) holding the time it last would
// have answered STATUS ready. The daemon rewrites it every READY_BEAT_MS while it is ready, removes it as
// soon as it is not (pool unable to serve), and leaves it when it stops, so the plugin's STATUS can tell a
// daemon that is restarting (beat a moment ago) from one that is gone (beat old, or none). Shared by both
// sides, like the veth names: the daemon writes it, the plugin reads it.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const READY_BEAT_MS = 2000;

export const readyBeatPath = (socket: string) => `${socket}.ready`;

export interface ReadyBeat {
  /** Epoch ms of the beat. */
  at: number;
  pid: number;
}

/** The last beat, or null when there is none (or it is not one). */
export function readReadyBeat(socket: string): ReadyBeat | null {
  try {
    const v = JSON.parse(readFileSync(readyBeatPath(socket), 'utf8')) as Partial<ReadyBeat>;
    return typeof v.at === 'number' && typeof v.pid === 'number' ? { at: v.at, pid: v.pid } : null;
  } catch {
    return null;
  }
}

/** Writes a beat atomically (a reader never sees half a file). */
export function writeReadyBeat(socket: string, at: number): void {
  const path = readyBeatPath(socket);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ at, pid: process.pid }), { mode: 0o644 });
  renameSync(tmp, path);
}

export function removeReadyBeat(socket: string): void {
  rmSync(readyBeatPath(socket), { force: true });
}
