import { AppError, invalidRequest } from '@openvesper/shared'
import { describe, expect, it } from 'vitest'
import { toAnthropicErrorType } from './anthropic/errors.js'
import { errorParam, failureStatus, pointerToParam, unsupported } from './errors.js'
import { toOpenAIErrorType } from './openai/errors.js'
import { responseErrorCode } from './openai/responses.js'

describe('compat errors', () => {
  it('writes JSON pointers in the dotted notation of OpenAI param', () => {
    expect(pointerToParam('/messages/0/content')).toBe('messages[0].content')
    expect(pointerToParam('/tools/2/function/name')).toBe('tools[2].function.name')
    expect(pointerToParam('/a~1b/c~0d')).toBe('a/b.c~d')
    expect(pointerToParam('messages[1]')).toBe('messages[1]')
  })

  it('makes refusals ordinary invalid_request errors that name the field', () => {
    const err = unsupported('n', 'only n: 1 is supported')
    expect(err).toBeInstanceOf(AppError)
    expect(err.code).toBe('invalid_request')
    expect(errorParam(err)).toBe('n')
  })

  it('takes the param of a validation error from its first field path, and null when there is none', () => {
    expect(errorParam(invalidRequest('body is invalid', [{ path: '/messages/0/role', message: 'must be one of …' }]))).toBe('messages[0].role')
    expect(errorParam(new AppError('not_found', 'no such model'))).toBeNull()
  })

  it('gives upstream and run failures the status whose error type the SDKs retry on', () => {
    expect(failureStatus('upstream_rate_limited')).toBe(429)
    expect(toOpenAIErrorType(failureStatus('upstream_rate_limited'))).toBe('rate_limit_error')
    expect(toAnthropicErrorType(failureStatus('upstream_rate_limited'))).toBe('rate_limit_error')
    expect(responseErrorCode(failureStatus('upstream_rate_limited'))).toBe('rate_limit_exceeded')
    expect(toAnthropicErrorType(failureStatus('upstream_unavailable'))).toBe('overloaded_error')
    expect(toAnthropicErrorType(failureStatus('upstream_timeout'))).toBe('timeout_error')
    expect(failureStatus('upstream_bad_request')).toBe(400)
    expect(failureStatus('upstream_bad_response')).toBe(502)
    expect(failureStatus('step_limit_exceeded')).toBe(500)
    expect(toOpenAIErrorType(failureStatus('internal'))).toBe('server_error')
    expect(responseErrorCode(failureStatus('internal'))).toBe('server_error')
  })
})
