// The logging surface the core needs; a pino Logger satisfies it.

export interface CoreLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentCoreLogger: CoreLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
