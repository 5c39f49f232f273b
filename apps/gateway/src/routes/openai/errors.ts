import { failureStatus, pointerToParam, toOpenAIError } from '@openvesper/compat'
import { AppError, ERROR_CODES, type ErrorCode } from '@openvesper/shared'
import { type ErrorRenderer, statusOf } from '../../http/errors.js'

/** Request parts as validation names them (`body.messages.0.role`); OpenAI's `param` is relative to the body. */
const PARTS = new Set(['body', 'querystring', 'params', 'headers'])

/**
 * The `param` of an error: the field the compat mappers named (`details.param`), else the first validation
 * error's path in OpenAI's notation (`body.messages.0.role` → `messages[0].role`).
 */
function paramOf(error: AppError): string | null {
  const named = error.details?.param
  if (typeof named === 'string') return named
  const path = error.details?.errors?.[0]?.path
  if (path === undefined || path === '') return null
  const segments = path.split('.')
  if (segments.length > 1 && PARTS.has(segments[0]!)) segments.shift()
  return pointerToParam(`/${segments.join('/')}`)
}

/**
 * OpenAI's error body, `{ error: { message, type, param, code } }`; the status stays the code table's, so the
 * SDKs pick the matching error class (compat's `toOpenAIError` fills `type` and OpenAI's well-known codes).
 */
export const openaiErrorRenderer: ErrorRenderer = {
  contentType: 'application/json; charset=utf-8',
  body: (error) => {
    const reason = error.details?.reason
    return toOpenAIError({
      status: statusOf(error.code),
      code: typeof reason === 'string' ? reason : error.code,
      message: error.message,
      param: paramOf(error),
    })
  },
}

/**
 * A run that ended failed, as the error the surface reports: the status compat's `failureStatus` gives its
 * reason (429 for a rate-limited upstream, 503 unavailable, 502 for other upstream failures…), and the reason as
 * OpenAI's `code`.
 */
export function runFailure(reason: string | null, message: string | null): AppError {
  const status = failureStatus(reason ?? 'internal')
  const code: ErrorCode = ERROR_CODES.find((c) => statusOf(c) === status) ?? (status >= 500 ? 'upstream_error' : 'invalid_request')
  return new AppError(code, message ?? 'the run failed', { details: { reason: reason ?? 'internal' } })
}
