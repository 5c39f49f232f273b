import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { OpenAIErrorSchema, toOpenAIError, toOpenAIErrorType } from './errors.js'

const check = Compile(OpenAIErrorSchema)

describe('OpenAI error body', () => {
  it('maps each status the SDK turns into an error class to its type', () => {
    expect(toOpenAIErrorType(400)).toBe('invalid_request_error')
    expect(toOpenAIErrorType(401)).toBe('authentication_error')
    expect(toOpenAIErrorType(403)).toBe('permission_error')
    expect(toOpenAIErrorType(404)).toBe('invalid_request_error')
    expect(toOpenAIErrorType(409)).toBe('invalid_request_error')
    expect(toOpenAIErrorType(422)).toBe('invalid_request_error')
    expect(toOpenAIErrorType(429)).toBe('rate_limit_error')
    expect(toOpenAIErrorType(500)).toBe('server_error')
    expect(toOpenAIErrorType(502)).toBe('server_error')
    expect(toOpenAIErrorType(503)).toBe('server_error')
  })

  it('fills message, type, param and code in the shape the SDK reads', () => {
    const body = toOpenAIError({ status: 400, code: 'invalid_request', message: 'only n: 1 is supported (got 2)', param: 'n' })
    expect(check.Check(body)).toBe(true)
    expect(body).toEqual({ error: { message: 'only n: 1 is supported (got 2)', type: 'invalid_request_error', param: 'n', code: 'invalid_request' } })
  })

  it("uses OpenAI's own codes for a wrong key, an unknown model and a rate limit", () => {
    expect(toOpenAIError({ status: 401, code: 'unauthorized', message: 'missing or invalid credentials' }).error).toEqual({
      message: 'missing or invalid credentials',
      type: 'authentication_error',
      param: null,
      code: 'invalid_api_key',
    })
    expect(toOpenAIError({ status: 404, code: 'not_found', message: "model 'nope' not found" }).error.code).toBe('model_not_found')
    expect(toOpenAIError({ status: 404, code: 'not_found', message: "response 'resp_1' not found" }).error.code).toBe('not_found')
    expect(toOpenAIError({ status: 429, code: 'rate_limited', message: 'slow down' }).error).toMatchObject({
      type: 'rate_limit_error',
      code: 'rate_limit_exceeded',
    })
  })

  it('sends null param and code when nothing names them', () => {
    expect(toOpenAIError({ status: 500, message: 'internal error' }).error).toEqual({
      message: 'internal error',
      type: 'server_error',
      param: null,
      code: null,
    })
  })
})
