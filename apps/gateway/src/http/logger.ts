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

export function createLogger(level: string): PinoLogger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } })
}
