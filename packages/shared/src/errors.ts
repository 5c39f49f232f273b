/**
 * The closed set of machine-readable error codes, each with its HTTP status and problem title (RFC 9457; the problem
 * type is `urn:openvesper:problem:<code>`). Every API error carries one. Adding a code is one line here; the order is
 * the order of the documented enum.
 */
export const ERROR_CODE_TABLE = {
  invalid_request: { status: 400, title: 'Invalid request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  upstream_error: { status: 502, title: 'Upstream error' },
  unavailable: { status: 503, title: 'Service unavailable' },
  internal: { status: 500, title: 'Internal error' },
  run_not_cancellable: { status: 409, title: 'Run not cancellable' },
  session_busy: { status: 409, title: 'Session busy' },
  session_exists: { status: 409, title: 'Session exists' },
  session_queue_full: { status: 429, title: 'Session queue full' },
  idempotency_conflict: { status: 409, title: 'Idempotency conflict' },
  approval_decided: { status: 409, title: 'Approval already decided' },
} as const satisfies Record<string, { status: number; title: string }>
export type ErrorCode = keyof typeof ERROR_CODE_TABLE
/** The HTTP statuses error codes answer with. */
export type ErrorStatus = (typeof ERROR_CODE_TABLE)[ErrorCode]['status']
export const ERROR_CODES = Object.keys(ERROR_CODE_TABLE) as readonly ErrorCode[]

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

export const notFound = (kind: string, id?: string) => new AppError('not_found', id === undefined ? `${kind} not found` : `${kind} '${truncate(id)}' not found`)
export const invalidRequest = (message: string, errors?: FieldError[]) => new AppError('invalid_request', message, errors ? { details: { errors } } : undefined)
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
