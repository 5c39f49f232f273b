/** The pino-compatible subset that packages log through. */
export interface LogFn {
  (obj: object, msg?: string): void
  (msg: string): void
}
export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  child(bindings: Record<string, unknown>): Logger
}

const noop = () => {}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger }
