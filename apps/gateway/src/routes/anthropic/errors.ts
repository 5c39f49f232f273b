import { failureStatus, toAnthropicError } from '@openvesper/compat'
import { AppError, ERROR_CODES, type ErrorCode } from '@openvesper/shared'
import { type ErrorRenderer, statusOf } from '../../http/errors.js'

/** Request parts as validation names them (`body.messages.0.role`); Anthropic names the field within the body. */
const PARTS = new Set(['body', 'querystring', 'params', 'headers'])

/**
 * The field an error is about, in Anthropic's notation (`messages.0.content`, as its own validation errors say):
 * the field the compat mappers named (`details.param`), else the first validation error's path.
 */
function paramOf(error: AppError): string | null {
  const named = error.details?.param
  if (typeof named === 'string') return named
  const path = error.details?.errors?.[0]?.path
  if (path === undefined || path === '') return null
  const segments = path.split('.')
  if (segments.length > 1 && PARTS.has(segments[0]!)) segments.shift()
  return segments.join('.')
}

/**
 * Anthropic's error body, `{ type: 'error', error: { type, message }, request_id }`. The status stays the code
 * table's (the SDK picks its error class from it); the error type follows Anthropic's status table. A
 * validation error's message is the field then the problem, as Anthropic writes it.
 */
export const anthropicErrorRenderer: ErrorRenderer = {
  contentType: 'application/json; charset=utf-8',
  body: (error, request) => {
    const param = paramOf(error)
    const validation = error.details?.errors?.[0]
    // Fastify's "request validation failed: body.x is required" → "x: is required" (the field leads, once).
    const message = error.details?.param === undefined && validation && param ? validation.message : error.message
    return toAnthropicError({ status: statusOf(error.code), code: error.code, message, param }, String(request.id))
  },
}

/** A run that ended failed, as the error the surface reports (compat's `failureStatus` of its reason). */
export function runFailure(reason: string | null, message: string | null): AppError {
  const status = failureStatus(reason ?? 'internal')
  const code: ErrorCode = ERROR_CODES.find((c) => statusOf(c) === status) ?? (status >= 500 ? 'upstream_error' : 'invalid_request')
  return new AppError(code, message ?? 'the run failed', { details: { reason: reason ?? 'internal' } })
}

export const runCancelled = (runId: string) => new AppError('conflict', `run ${runId} was cancelled`, { details: { reason: 'run_cancelled' } })
