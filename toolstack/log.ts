// The logging the toolstack needs: a pino-shaped interface, so callers pass pino (or anything like it) and the toolstack never creates one.

export type LogFn = (obj: object | string, msg?: string) => void;

/** What the toolstack logs through: pino's Logger fits it. */
export interface Log {
  child(bindings: Record<string, unknown>): Log;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}
