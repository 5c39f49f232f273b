import { pino, type Logger as PinoLogger } from 'pino'

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

/**
 * The process logger, on stdout. Writes are asynchronous (a line never blocks a request on the write syscall;
 * lines logged while a write is in flight leave together in the next one) and pino flushes what is left when
 * the process exits.
 */
export function createLogger(level: string): PinoLogger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ dest: 1, sync: false }))
}
