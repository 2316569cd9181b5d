// The plugin's log: JSON lines (pino's level numbers) appended to the file the config names, never stdout
// (stdout carries the CNI result). Lines are buffered and written once when the command ends, so a pod's
// ADD costs one append; a plugin that cannot write its log still answers the runtime, except when the
// config names a directory as its log file: that is a configuration error (code 7) naming the path.
import { appendFileSync, mkdirSync, statSync } from 'node:fs';
import { CniError, ErrorCode } from './errors.js';
import type { LogLevel } from './netconf.js';

const LEVELS: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 99,
};

function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false; // unreadable: flush() finds out, and logging never fails a pod's set-up
  }
}

export class Logger {
  private lines: string[] = [];
  private file = '';
  private threshold = LEVELS.info;
  private context: Record<string, unknown> = {};

  /** Throws a CniError (invalid config) when `file` is a directory; nothing is logged then. */
  configure(file: string, level: LogLevel, context: Record<string, unknown>): void {
    if (file && isDirectory(file))
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `logFile ${JSON.stringify(file)} is a directory, not a file the plugin can append its log to`,
      );
    this.file = file;
    this.threshold = LEVELS[level];
    this.context = context;
  }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < this.threshold) return;
    this.lines.push(
      JSON.stringify({
        level: LEVELS[level],
        time: Date.now(),
        pid: process.pid,
        ...this.context,
        ...fields,
        msg,
      }),
    );
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }

  flush(): void {
    if (!this.file || this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    try {
      appendFileSync(this.file, text, { mode: 0o600 });
    } catch {
      try {
        mkdirSync(this.file.slice(0, this.file.lastIndexOf('/')) || '/', { recursive: true, mode: 0o700 });
        appendFileSync(this.file, text, { mode: 0o600 });
      } catch {
        // Logging must never fail a pod's network set-up.
      }
    }
  }
}

export const log = new Logger();
