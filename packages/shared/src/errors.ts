/** The closed set of machine-readable error codes. Every API error carries one. */
export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'upstream_error',
  'unavailable',
  'internal',
  'run_not_cancellable',
  'session_busy',
  'idempotency_conflict',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export interface FieldError {
  path: string
  message: string
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly details: { errors?: FieldError[]; [key: string]: unknown } | undefined
  constructor(code: ErrorCode, message: string, options?: { details?: AppError['details']; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.details = options?.details
  }
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError

export const notFound = (kind: string, id?: string) =>
  new AppError('not_found', id === undefined ? `${kind} not found` : `${kind} '${truncate(id)}' not found`)
export const invalidRequest = (message: string, errors?: FieldError[]) =>
  new AppError('invalid_request', message, errors ? { details: { errors } } : undefined)
export const conflict = (message: string, code: ErrorCode = 'conflict') => new AppError(code, message)
export const unauthorized = (message = 'missing or invalid credentials') => new AppError('unauthorized', message)
export const forbidden = (message = 'the token lacks the scope this operation needs') => new AppError('forbidden', message)
export const unavailable = (message: string) => new AppError('unavailable', message)

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s
}

export function assertNever(value: never, message = 'unexpected value'): never {
  throw new Error(`${message}: ${String(value)}`)
}
