import { type DestinationStream, pino, type Logger as PinoLogger } from 'pino'

/** Paths pino redacts everywhere: credentials in headers, bodies and config. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  '*.token',
  '*.apiKey',
  '*.password',
  'config.auth.bootstrapToken',
  'config.upstream.openaiApiKey',
  'config.upstream.anthropicApiKey',
]

/** Longest a log line waits in the buffer before it is written. */
export const LOG_FLUSH_MS = 200

/**
 * The process logger, on stdout unless a destination is given (tests). Lines on stdout are buffered and written in
 * batches — of 4 KiB, or whatever is there every LOG_FLUSH_MS — instead of one write per line (per request); pino
 * writes what is left when the process exits.
 */
export function createLogger(level: string, destination?: DestinationStream): PinoLogger {
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' }
  if (destination) return pino({ level, redact }, destination)
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  setInterval(() => stdout.flush(), LOG_FLUSH_MS).unref()
  return pino({ level, redact }, stdout)
}
