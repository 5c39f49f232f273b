import { connect } from 'node:net'
import type { LightMyRequestResponse as Response } from 'fastify'
import { expect } from 'vitest'

/** Asserts an RFC 9457 problem response that leaks nothing, and returns its body. */
export function expectProblem(res: Response, status: number, code?: string): Record<string, any> {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = res.json()
  expect(body.status).toBe(status)
  expect(body.type).toBe(`urn:openvesper:problem:${body.code}`)
  if (code) expect(body.code).toBe(code)
  expect(typeof body.requestId === 'string' && body.requestId.length > 0).toBe(true)
  expect(body.requestId).toBe(res.headers['x-request-id'])
  expectNoLeak(res.body)
  return body
}

/** OpenAI's error `type` for each status (the SDKs choose their error class from the status). */
const OPENAI_TYPES: Record<number, string> = { 401: 'authentication_error', 403: 'permission_error', 429: 'rate_limit_error' }
const openAIType = (status: number) => OPENAI_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error')
/** Gateway codes OpenAI has its own well-known code for. */
const OPENAI_CODES: Record<string, string> = { unauthorized: 'invalid_api_key', rate_limited: 'rate_limit_exceeded' }

/** Asserts OpenAI's error body `{ error: { message, type, param, code } }` that leaks nothing, and returns it. */
export function expectOpenAIError(res: Response, status: number, code?: string): Record<string, any> {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  const body = res.json()
  expect(Object.keys(body)).toEqual(['error'])
  expect(body.error).toEqual({ message: expect.any(String), type: openAIType(status), param: body.error.param ?? null, code: expect.any(String) })
  if (code) expect(body.error.code).toBe(OPENAI_CODES[code] ?? code)
  expect(typeof res.headers['x-request-id'] === 'string' && res.headers['x-request-id'].length > 0).toBe(true)
  expectNoLeak(res.body)
  return body
}

/** Anthropic's error `type` for each status (compat's `toAnthropicErrorType`, restated so a change there shows). */
const ANTHROPIC_TYPES: Record<number, string> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
}
const anthropicType = (status: number) => ANTHROPIC_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error')

/** Asserts Anthropic's error body `{ type: 'error', error: { type, message }, request_id }` that leaks nothing, and returns it. */
export function expectAnthropicError(res: Response, status: number): Record<string, any> {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  const body = res.json()
  expect(body).toEqual({ type: 'error', error: { type: anthropicType(status), message: expect.any(String) }, request_id: res.headers['x-request-id'] })
  expectNoLeak(res.body)
  return body
}

/**
 * The error body of the surface that answered: problem details on the native API, OpenAI's error under /v1 (the
 * compat surface's own error handler), for tests that walk every route.
 */
export function expectErrorBody(res: Response, status: number, code?: string): Record<string, any> {
  const url = String(res.raw.req.url ?? '')
  if (/^\/anthropic\/v1(?:[/?]|$)/.test(url)) return expectAnthropicError(res, status)
  return /^\/v1(?:[/?]|$)/.test(url) ? expectOpenAIError(res, status, code) : expectProblem(res, status, code)
}

/** No stack frames, file paths, SQL or driver names in a response body. */
export function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/"stack"|\bat [\w.<>]+ \(|node_modules|\/work\/|file:\/\/|\.ts:\d+|\bselect\b.+\bfrom\b|\binsert into\b|postgres|pglite|drizzle/i)
}

/** Sends raw bytes over one TCP connection and returns the status code of the first response. */
export function rawStatus(port: number, request: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')))
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1')
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data)
      if (match) {
        resolve(Number(match[1]))
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`connection closed without a response: ${JSON.stringify(data.slice(0, 200))}`)))
    socket.write(request)
  })
}
