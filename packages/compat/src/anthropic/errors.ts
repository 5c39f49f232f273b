import type { GatewayProblem } from '../errors.js'
import type { AnthropicError } from './messages.schemas.js'

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error'

/**
 * Status → Anthropic's error type (its documented table: 400, 401, 402, 403, 404, 413, 429, 500, 504, 529).
 * The SDK picks its error class from the status, so the status stays as the gateway chose it; a 503 (the
 * gateway or a provider unavailable) is `overloaded_error`, which is what Anthropic clients retry on.
 */
export function toAnthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error'
    case 402:
      return 'billing_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_error'
    case 503:
    case 529:
      return 'overloaded_error'
    case 504:
      return 'timeout_error'
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error'
  }
}

/**
 * The body `{ type: 'error', error: { type, message } }`, with the request id when the gateway has one. Anthropic
 * has no `param` field; as Anthropic does (`messages.0.content: Field required`), the field leads the message.
 */
export function toAnthropicError(problem: GatewayProblem, requestId?: string): AnthropicError {
  const message = problem.param && !problem.message.startsWith(problem.param) ? `${problem.param}: ${problem.message}` : problem.message
  return {
    type: 'error',
    error: { type: toAnthropicErrorType(problem.status), message },
    ...(requestId === undefined ? {} : { request_id: requestId }),
  }
}
