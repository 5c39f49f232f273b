import Anthropic from '@anthropic-ai/sdk'
import type { ProviderEvent } from '@openvesper/core'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { collectResult } from '../neutral.js'
import { toAnthropicError } from './errors.js'
import { createAnthropicEventEncoder, neutralToAnthropicMessage } from './messages.js'
import { CountTokensRequestSchema, MessagesRequestSchema } from './messages.schemas.js'
import { toAnthropicModelList } from './models.js'

/**
 * The official `@anthropic-ai/sdk` reading what the mappers produce, through an in-memory `fetch` (no server):
 * its MessageStream (`finalMessage()`), error classes and model pager judge the wire format; the bodies it
 * sends are checked against the request schema.
 */

type Reply = { status?: number; json?: unknown; sse?: string[] }

function client(reply: (body: Record<string, unknown>, url: string) => Reply) {
  const requests: Record<string, unknown>[] = []
  const fetch = async (url: string | URL | Request, init?: RequestInit) => {
    const body = init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : {}
    requests.push(body)
    const r = reply(body, String(url))
    if (r.sse) return new Response(r.sse.join(''), { status: 200, headers: { 'content-type': 'text/event-stream' } })
    return new Response(JSON.stringify(r.json), { status: r.status ?? 200, headers: { 'content-type': 'application/json' } })
  }
  return { sdk: new Anthropic({ apiKey: 'k', baseURL: 'http://gateway.test/anthropic', fetch: fetch as typeof globalThis.fetch, maxRetries: 0 }), requests }
}

const meta = { id: 'msg_1', model: 'main' }
const events: ProviderEvent[] = [
  { type: 'text_delta', text: 'Let me ' },
  { type: 'text_delta', text: 'check.' },
  { type: 'tool_call', call: { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
  { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 12, outputTokens: 5 } },
]
const params = {
  model: 'main',
  max_tokens: 256,
  system: [{ type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' as const } }],
  messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
  tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }],
}
const requestSchema = Compile(MessagesRequestSchema)

describe('the Anthropic SDK against the messages mappers', () => {
  it('builds finalMessage() from the event stream equal to the non-streaming message, and sends a body the schema accepts', async () => {
    const encoder = createAnthropicEventEncoder(meta)
    const sse = [...encoder.start(), ...events.flatMap((e) => encoder.push(e))].map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
    const { sdk, requests } = client(() => ({ sse }))
    const stream = sdk.messages.stream(params)
    const texts: string[] = []
    stream.on('text', (t) => texts.push(t))
    const final = await stream.finalMessage()
    expect(requestSchema.Check(requests[0])).toBe(true)
    expect(requests[0]?.stream).toBe(true)
    expect(texts).toEqual(['Let me ', 'check.'])
    const expected = neutralToAnthropicMessage(collectResult(events), meta)
    expect(final.content).toMatchObject(expected.content)
    expect(final.stop_reason).toBe('tool_use')
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 5 })
  })

  it('reads the non-streaming message', async () => {
    const { sdk } = client(() => ({ json: neutralToAnthropicMessage(collectResult(events), meta) }))
    const message = await sdk.messages.create(params)
    expect(message.content.map((b) => b.type)).toEqual(['text', 'tool_use'])
    expect(message.content[1]).toMatchObject({ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } })
  })

  it('sends a tool_result round trip the schema accepts', async () => {
    const { sdk, requests } = client(() => ({
      json: neutralToAnthropicMessage({ text: 'Sunny.', toolCalls: [], stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 } }, meta),
    }))
    await sdk.messages.create({
      ...params,
      messages: [
        ...params.messages,
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18°C' }] }] },
      ],
      tool_choice: { type: 'auto' },
      stop_sequences: ['END'],
      metadata: { user_id: 'u' },
    })
    expect(requestSchema.Check(requests[0]), JSON.stringify([...requestSchema.Errors(requests[0])].slice(0, 2))).toBe(true)
  })

  it('raises the error class of each status with the error type from the body', async () => {
    const cases: [number, new (...args: never[]) => Error][] = [
      [400, Anthropic.BadRequestError],
      [401, Anthropic.AuthenticationError],
      [403, Anthropic.PermissionDeniedError],
      [404, Anthropic.NotFoundError],
      [413, Anthropic.ContentTooLargeError],
      [429, Anthropic.RateLimitError],
      [500, Anthropic.InternalServerError],
      [529, Anthropic.OverloadedError],
    ]
    for (const [status, ErrorClass] of cases) {
      const body = toAnthropicError({ status, message: `failed with ${status}` })
      const { sdk } = client(() => ({ status, json: body }))
      const err = await sdk.messages.create(params).catch((e: unknown) => e)
      expect(err, String(status)).toBeInstanceOf(ErrorClass)
      const apiError = err as InstanceType<typeof Anthropic.APIError>
      expect(apiError.status).toBe(status)
      expect(apiError.error).toEqual(body)
      expect(apiError.message).toContain(`failed with ${status}`)
    }
  })

  it('counts tokens: the body the SDK sends fits the count_tokens schema and it reads input_tokens', async () => {
    const { sdk, requests } = client(() => ({ json: { input_tokens: 42 } }))
    const { max_tokens: _, ...conversation } = params
    const count = await sdk.messages.countTokens(conversation)
    expect(Compile(CountTokensRequestSchema).Check(requests[0])).toBe(true)
    expect(count.input_tokens).toBe(42)
  })

  it("pages the models list with the SDK's auto-pagination", async () => {
    const catalog = ['main', 'anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini'].map((id) => ({
      id,
      kind: id.includes('/') ? ('model' as const) : ('agent' as const),
    }))
    const { sdk } = client((_body, url) => {
      const q = new URL(url).searchParams
      return { json: toAnthropicModelList(catalog, { limit: Number(q.get('limit') ?? 20), ...(q.get('after_id') ? { after_id: q.get('after_id')! } : {}) }) }
    })
    const ids: string[] = []
    for await (const model of sdk.models.list({ limit: 2 })) ids.push(model.id)
    expect(ids).toEqual(catalog.map((m) => m.id))
  })
})
