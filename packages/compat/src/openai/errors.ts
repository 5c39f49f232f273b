import { type Static, Type } from 'typebox'
import type { GatewayProblem } from '../errors.js'
import { Nullable } from '../schema.js'

/** OpenAI's error body, `{ error: { message, type, param, code } }`, which the SDKs turn into their error classes. */
export const OpenAIErrorSchema = Type.Object({
  error: Type.Object({
    message: Type.String(),
    type: Type.String(),
    param: Nullable(Type.String()),
    code: Nullable(Type.String()),
  }),
})
export type OpenAIError = Static<typeof OpenAIErrorSchema>

/** OpenAI reports a missing model or a conflict as `invalid_request_error` too (with a `code`); so do we. */
export type OpenAIErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'rate_limit_error' | 'server_error'

/**
 * The SDK picks its error class from the status alone (400 BadRequest, 401 Authentication, 403
 * PermissionDenied, 404 NotFound, 409 Conflict, 422 UnprocessableEntity, 429 RateLimit, ≥500 InternalServer),
 * so the status is kept; `type` follows it, and `code` carries OpenAI's well-known codes where one applies
 * (`invalid_api_key`, `model_not_found`, `rate_limit_exceeded`), else the gateway's own code.
 */
export function toOpenAIErrorType(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

export function toOpenAIError(problem: GatewayProblem): OpenAIError {
  return {
    error: {
      message: problem.message,
      type: toOpenAIErrorType(problem.status),
      param: problem.param ?? null,
      code: openAICode(problem),
    },
  }
}

function openAICode(problem: GatewayProblem): string | null {
  if (problem.status === 401) return 'invalid_api_key'
  if (problem.status === 429) return 'rate_limit_exceeded'
  if (problem.status === 404 && /\bmodel\b/i.test(problem.message)) return 'model_not_found'
  return problem.code ?? null
}
