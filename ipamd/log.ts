// The daemon's logger: pino, JSON, one line per event. Where the lines go follows the incumbent's
// AWS_VPC_K8S_CNI_LOG_FILE (stdout, stderr or a file path); the level follows AWS_VPC_K8S_CNI_LOGLEVEL.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  logLevel: string;
  logFile: string;
}

export function createLogger(opts: LogOptions): Logger {
  const dest =
    opts.logFile === 'stdout' || opts.logFile === ''
      ? 1
      : opts.logFile === 'stderr'
        ? 2
        : (mkdirSync(dirname(opts.logFile), { recursive: true, mode: 0o755 }), opts.logFile);
  // Synchronous writes: a line written just before a crash (or kill -9) is not lost in a buffer, and the
  // daemon logs per call only at debug level, so the hot path does not pay for it.
  const stream = pino.destination({ dest, sync: true, mkdir: false });
  return pino(
    {
      level: opts.logLevel,
      base: { name: 'tidepool-ipamd', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything, for tests and tools that embed the server. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
