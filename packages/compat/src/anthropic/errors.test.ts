import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { toAnthropicError, toAnthropicErrorType } from './errors.js'
import { AnthropicErrorSchema } from './messages.schemas.js'
import { AnthropicModelListSchema, toAnthropicModelList } from './models.js'

describe('Anthropic error body', () => {
  it("maps statuses to Anthropic's error types", () => {
    expect([400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504, 529].map(toAnthropicErrorType)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'billing_error',
      'permission_error',
      'not_found_error',
      'invalid_request_error',
      'request_too_large',
      'invalid_request_error',
      'rate_limit_error',
      'api_error',
      'api_error',
      'overloaded_error',
      'timeout_error',
      'overloaded_error',
    ])
  })

  it('builds { type: error, error: { type, message } } with the request id when given', () => {
    const body = toAnthropicError({ status: 404, code: 'not_found', message: "model 'x' not found" }, 'req_1')
    expect(Compile(AnthropicErrorSchema).Check(body)).toBe(true)
    expect(body).toEqual({ type: 'error', error: { type: 'not_found_error', message: "model 'x' not found" }, request_id: 'req_1' })
    expect(toAnthropicError({ status: 400, message: 'content blocks of type image are not supported', param: 'messages[0].content[1]' }).error.message).toBe(
      'messages[0].content[1]: content blocks of type image are not supported',
    )
    expect(toAnthropicError({ status: 401, message: 'missing or invalid credentials' })).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'missing or invalid credentials' },
    })
  })
})

describe('Anthropic models list', () => {
  const catalog = [
    { id: 'main', kind: 'agent' as const },
    { id: 'anthropic/claude-sonnet-4-5', kind: 'model' as const, provider: 'anthropic', displayName: 'Claude Sonnet 4.5', created: 1_700_000_000 },
    { id: 'openai/gpt-4o-mini', kind: 'model' as const, provider: 'openai' },
  ]

  it('lists agents and models with display names and RFC 3339 dates', () => {
    const list = toAnthropicModelList(catalog)
    expect(Compile(AnthropicModelListSchema).Check(list)).toBe(true)
    expect(list).toEqual({
      data: [
        { type: 'model', id: 'main', display_name: 'main (agent)', created_at: '1970-01-01T00:00:00.000Z' },
        { type: 'model', id: 'anthropic/claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2023-11-14T22:13:20.000Z' },
        { type: 'model', id: 'openai/gpt-4o-mini', display_name: 'openai/gpt-4o-mini', created_at: '1970-01-01T00:00:00.000Z' },
      ],
      has_more: false,
      first_id: 'main',
      last_id: 'openai/gpt-4o-mini',
    })
  })

  it('pages with limit, after_id and before_id', () => {
    const first = toAnthropicModelList(catalog, { limit: 2 })
    expect(first.data.map((m) => m.id)).toEqual(['main', 'anthropic/claude-sonnet-4-5'])
    expect(first.has_more).toBe(true)
    const next = toAnthropicModelList(catalog, { limit: 2, after_id: first.last_id! })
    expect(next).toMatchObject({ has_more: false, first_id: 'openai/gpt-4o-mini', last_id: 'openai/gpt-4o-mini' })
    const back = toAnthropicModelList(catalog, { limit: 1, before_id: 'openai/gpt-4o-mini' })
    expect(back.data.map((m) => m.id)).toEqual(['anthropic/claude-sonnet-4-5'])
    expect(back.has_more).toBe(true)
    expect(toAnthropicModelList(catalog, { after_id: 'unknown' }).data).toEqual([])
  })
})
