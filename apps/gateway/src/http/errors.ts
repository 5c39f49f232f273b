import { AppError, ERROR_CODE_TABLE, ERROR_CODES, type ErrorCode, type ErrorStatus, type FieldError, isAppError } from '@openvesper/shared'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { type Static, Type } from 'typebox'

/** Where problem types live: `urn:openvesper:problem:<code>` (RFC 9457 `type`). */
export const PROBLEM_TYPE_PREFIX = 'urn:openvesper:problem:'
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export const FieldErrorSchema = Type.Object(
  {
    path: Type.String({ description: 'The failing field, e.g. `body.name` or `params.runId`.' }),
    message: Type.String(),
  },
  { additionalProperties: false },
)

/** RFC 9457 problem details, the one error shape of the native API. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI of the problem type: `urn:openvesper:problem:<code>`.' }),
    title: Type.String({ description: 'Short summary of the problem type.' }),
    status: Type.Integer({ minimum: 400, maximum: 599, description: 'The HTTP status code.' }),
    code: Type.Unsafe<ErrorCode>({ type: 'string', enum: [...ERROR_CODES], description: 'Machine-readable error code.' }),
    detail: Type.String({ description: 'Explanation of this occurrence; never contains secrets or internals.' }),
    instance: Type.Optional(Type.String({ description: 'The request path (without query string).' })),
    requestId: Type.String({ description: 'Correlation id, also sent in the `x-request-id` header.' }),
    errors: Type.Optional(Type.Array(FieldErrorSchema, { description: 'Field-level validation failures.' })),
    activeRunId: Type.Optional(Type.String({ description: "The session's active run (codes session_busy and session_queue_full)." })),
    outcome: Type.Optional(Type.String({ description: 'approval_decided: the decision that won (allowed, denied, expired, cancelled).' })),
  },
  { $id: 'Problem', title: 'Problem', additionalProperties: false, description: 'RFC 9457 problem details.' },
)
export type Problem = Static<typeof ProblemSchema>

/** A code's HTTP status, from the one code table (ERROR_CODE_TABLE in @openvesper/shared). */
export const statusOf = (code: ErrorCode): ErrorStatus => ERROR_CODE_TABLE[code].status
const titleOf = (code: ErrorCode): string => ERROR_CODE_TABLE[code].title

/** Statuses every route documents with the Problem component unless it declares them itself: those of the codes. */
export const PROBLEM_STATUSES: readonly ErrorStatus[] = [...new Set(ERROR_CODES.map(statusOf))].sort((x, y) => x - y)

/** One line per status of the code table (the compiler asks for a new one). */
const STATUS_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'Invalid request (validation failed, malformed body or parameters)',
  401: 'Missing or invalid credentials',
  403: 'The token lacks the required scope',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Request body too large',
  415: 'Unsupported content type',
  429: 'Too many requests',
  500: 'Internal error',
  502: 'Upstream provider error',
  503: 'A dependency is unavailable',
}

/** A documented Problem response for `status`, as a Fastify/OpenAPI response entry. */
export function problemResponse(status: ErrorStatus) {
  return {
    description: STATUS_DESCRIPTIONS[status],
    content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: 'Problem#' } } },
  }
}

/** A 409 approval_decided names the decision that won. */
const withOutcome = (problem: Problem, outcome: unknown): Problem => (typeof outcome === 'string' ? { ...problem, outcome } : problem)

/** Builds the problem body. `instance` is the path only: a query string may carry a credential. */
export function toProblem(code: ErrorCode, detail: string, request: FastifyRequest, errors?: FieldError[], activeRunId?: unknown): Problem {
  const path = request.url.split('?', 1)[0] ?? ''
  return {
    type: `${PROBLEM_TYPE_PREFIX}${code}`,
    title: titleOf(code),
    status: statusOf(code),
    code,
    detail,
    instance: path.length > 0 && path.length <= 2048 ? path : undefined,
    requestId: request.id,
    ...(errors && errors.length > 0 ? { errors: errors.slice(0, 20) } : {}),
    ...(typeof activeRunId === 'string' ? { activeRunId } : {}),
  }
}

/**
 * How a surface writes an error body: problem details on the native API, the provider's error shape on a
 * compat surface (`registerSurfaceErrors`). Status and headers are the same on every surface.
 */
export interface ErrorRenderer {
  contentType: string
  body(error: AppError, request: FastifyRequest): unknown
}

const problemRenderer: ErrorRenderer = {
  contentType: PROBLEM_CONTENT_TYPE,
  body: (error, request) =>
    withOutcome(toProblem(error.code, error.message, request, error.details?.errors, error.details?.activeRunId), error.details?.outcome),
}

/**
 * Sends `error` with its status (from the code table), `x-request-id`, `cache-control: no-store`,
 * `WWW-Authenticate` on a 401 and `Retry-After` when it carries one, and the body of `renderer` (the one
 * place responses for errors are written).
 */
export function sendProblem(reply: FastifyReply, error: AppError, renderer: ErrorRenderer = problemRenderer): FastifyReply {
  const { request } = reply
  const status = statusOf(error.code)
  reply.code(status).header('x-request-id', request.id).header('cache-control', 'no-store')
  if (status === 401) reply.header('www-authenticate', 'Bearer')
  const retryAfter = error.details?.retryAfterSeconds
  if (typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0) reply.header('retry-after', String(Math.ceil(retryAfter)))
  return reply.type(renderer.contentType).send(renderer.body(error, request))
}

interface ValidationItem {
  instancePath?: string
  keyword?: string
  message?: string
  params?: Record<string, unknown>
}

function fieldPath(context: string | undefined, item: ValidationItem): string {
  const segments = (item.instancePath ?? '')
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  const extra = item.params?.additionalProperty ?? item.params?.missingProperty
  if (typeof extra === 'string') segments.push(extra)
  return [context ?? 'request', ...segments].join('.')
}

function fieldMessage(item: ValidationItem): string {
  if (item.keyword === 'additionalProperties') return 'unknown property'
  if (item.keyword === 'required') return 'is required'
  return item.message ?? 'is invalid'
}

/** The code of a framework error with `status`: the first code of the table with that status, else the generic one. */
const byStatus = (status: number): ErrorCode =>
  ERROR_CODES.find((code) => statusOf(code) === status) ?? (status >= 400 && status < 500 ? 'invalid_request' : 'internal')

/** Socket errors of a driver that lost (or never got) its connection. */
const OUTAGE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
/** postgres.js connection errors. */
const OUTAGE_DRIVER_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'])
/** SQLSTATEs of a server that is shutting down, starting, out of connections or lost the connection (class 08). */
const OUTAGE_SQLSTATES = /^(08|57P0[123]|53300|53400)/

/** True when `err` (or an error in its `cause` chain: drizzle wraps driver errors) says a backing service is unreachable. */
export function isDependencyOutage(err: unknown): boolean {
  let current: unknown = err
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const e = current as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown }
    if (typeof e.code === 'string' && (OUTAGE_ERRNOS.has(e.code) || OUTAGE_DRIVER_CODES.has(e.code) || OUTAGE_SQLSTATES.test(e.code))) return true
    // ioredis with the offline queue off, or a command that hit its retry limit.
    if (typeof e.message === 'string' && /^(Stream isn't writeable|Connection is closed|Reached the max retries per request limit)/.test(e.message)) return true
    current = e.cause
  }
  return false
}

/**
 * Maps anything thrown during a request to an AppError whose message is safe to send. Framework errors get
 * fixed messages; unknown errors become `internal` (the caller logs the original with its stack).
 */
export function toAppError(err: unknown): { error: AppError; unexpected: boolean } {
  if (isAppError(err)) return { error: err, unexpected: false }
  const e = err as Partial<FastifyError> & { validation?: ValidationItem[]; validationContext?: string }
  if (Array.isArray(e.validation)) {
    const errors = e.validation.map((item) => ({ path: fieldPath(e.validationContext, item), message: fieldMessage(item) }))
    const first = errors[0]
    const detail = first ? `request validation failed: ${first.path} ${first.message}` : 'request validation failed'
    return { error: new AppError('invalid_request', detail, { details: { errors } }), unexpected: false }
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { error: new AppError('payload_too_large', 'request body is larger than the configured limit'), unexpected: false }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { error: new AppError('unsupported_media_type', 'unsupported content type; send application/json'), unexpected: false }
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { error: new AppError('invalid_request', 'request body is not valid JSON (or contains a forbidden key such as __proto__)'), unexpected: false }
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { error: new AppError('invalid_request', 'request body is empty but the content type is application/json'), unexpected: false }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { error: new AppError('invalid_request', 'request body size does not match Content-Length'), unexpected: false }
    case 'FST_ERR_BAD_URL':
      return { error: new AppError('invalid_request', 'the request URL is malformed'), unexpected: false }
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { error: new AppError('invalid_request', 'a path parameter is too long'), unexpected: false }
    default:
      break
  }
  // The database or Redis down, restarting or out of connections: a 503 the client may retry, naming no host.
  if (isDependencyOutage(err)) return { error: new AppError('unavailable', 'a backing service is temporarily unavailable; retry shortly'), unexpected: false }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500
  if (status >= 400 && status < 500) {
    const code = byStatus(status)
    return { error: new AppError(code, titleOf(code).toLowerCase()), unexpected: false }
  }
  if (status === 503) return { error: new AppError('unavailable', 'the service is temporarily unavailable'), unexpected: false }
  return { error: new AppError('internal', 'internal error; quote the request id when reporting it'), unexpected: true }
}

const NO_ROUTE = 'no route matches this method and path'

function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply, renderer?: ErrorRenderer): void {
  const { error, unexpected } = toAppError(err)
  if (unexpected) request.log.error({ err }, 'unhandled error')
  else if (statusOf(error.code) >= 500) request.log.warn({ code: error.code, err }, 'request failed')
  else request.log.info({ code: error.code }, 'request rejected')
  if (reply.sent || reply.raw.headersSent) return
  sendProblem(reply, error, renderer)
}

/**
 * Error handling of the native API: the error handler, the not-found handler, the framework-error handler
 * (see `frameworkErrors` in app.ts) and an `onRoute` hook documenting Problem responses on every route.
 * Must run before any route is registered and after the Problem component is added.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = (route.schema ?? {}) as Record<string, unknown>
    const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) }
    for (const status of PROBLEM_STATUSES) {
      const declared = String(status) in response || `${String(status)[0]}xx` in response
      if (!declared) response[status] = problemResponse(status)
    }
    route.schema = { ...schema, response }
  })
  app.setErrorHandler((err, request, reply) => handleError(err, request, reply))
  // The auth hook already answered 401 to requests without valid credentials.
  app.setNotFoundHandler((_request, reply) => {
    sendProblem(reply, new AppError('not_found', NO_ROUTE))
  })
}

/**
 * A compat surface's error handling, inside its encapsulated plugin (registered with the surface's prefix):
 * the same mapping, logging, statuses and headers as the native API, the body from `renderer`. Because Fastify
 * runs a route's hooks under its plugin's error handler, the root hooks' errors (the rate limiter's 429, the
 * auth hook's 401 and 403) come out in the surface's shape too; the not-found handler does the same for
 * unknown paths under the prefix.
 */
export function registerSurfaceErrors(app: FastifyInstance, renderer: ErrorRenderer): void {
  app.setErrorHandler((err, request, reply) => handleError(err, request, reply, renderer))
  app.setNotFoundHandler((_request, reply) => {
    sendProblem(reply, new AppError('not_found', NO_ROUTE), renderer)
  })
}

/** For Fastify's `frameworkErrors` option (malformed URLs, over-long path parameters). */
export const frameworkErrorHandler = (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => handleError(err, request, reply)
