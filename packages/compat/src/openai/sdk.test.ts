import type { ProviderEvent } from '@openvesper/core'
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { collectResult } from '../neutral.js'
import { createChatChunkEncoder, neutralToChatCompletion } from './chat.js'
import { toEmbeddingsResponse } from './embeddings.js'
import { toOpenAIError } from './errors.js'
import { createResponseEventEncoder, toResponseObject } from './responses.js'

/**
 * The official `openai` SDK (v6) reading what the mappers produce, through an in-memory `fetch` (no server):
 * its stream accumulators, error classes and base64 decoding are the judges of the wire format.
 */

type Reply = { status?: number; json?: unknown; sse?: string[]; headers?: Record<string, string> }

function client(reply: (body: Record<string, unknown>) => Reply) {
  const requests: Record<string, unknown>[] = []
  const fetch = async (_url: string | URL | Request, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as Record<string, unknown>
    requests.push(body)
    const r = reply(body)
    if (r.sse) return new Response(r.sse.join(''), { status: 200, headers: { 'content-type': 'text/event-stream' } })
    return new Response(JSON.stringify(r.json), { status: r.status ?? 200, headers: { 'content-type': 'application/json', ...r.headers } })
  }
  return { sdk: new OpenAI({ apiKey: 'k', baseURL: 'http://gateway.test/v1', fetch: fetch as typeof globalThis.fetch, maxRetries: 0 }), requests }
}

const meta = { id: 'chatcmpl-1', model: 'main', created: 1_700_000_000 }
const events: ProviderEvent[] = [
  { type: 'text_delta', text: 'Let me ' },
  { type: 'text_delta', text: 'check.' },
  { type: 'tool_call', call: { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
  { type: 'tool_call', call: { id: 'call_2', name: 'get_time', arguments: '{}' } },
  { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 10, outputTokens: 4 } },
]

function chatSse(includeUsage: boolean): string[] {
  const encoder = createChatChunkEncoder({ ...meta, includeUsage })
  return [...events.flatMap((e) => encoder.push(e)).map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n']
}

describe('the openai SDK against the chat completions mappers', () => {
  it("accumulates the chunk stream into the same completion as the non-streaming response (SDK's finalChatCompletion)", async () => {
    const { sdk } = client(() => ({ sse: chatSse(true) }))
    const stream = sdk.chat.completions.stream({ model: 'main', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } })
    const final = await stream.finalChatCompletion()
    const expected = neutralToChatCompletion(collectResult(events), meta)
    expect(final.choices[0]?.message.content).toBe(expected.choices[0]?.message.content)
    expect(final.choices[0]?.message.tool_calls).toEqual(expected.choices[0]?.message.tool_calls)
    expect(final.choices[0]?.finish_reason).toBe('tool_calls')
    expect(final.usage).toEqual(expected.usage)
  })

  it('iterates a raw stream with create({ stream: true })', async () => {
    const { sdk } = client(() => ({ sse: chatSse(false) }))
    const stream = await sdk.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    expect(text).toBe('Let me check.')
  })

  it('reads the non-streaming completion', async () => {
    const { sdk } = client(() => ({ json: neutralToChatCompletion(collectResult(events), meta) }))
    const completion = await sdk.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'hi' }] })
    expect(completion.choices[0]?.message.tool_calls?.map((c) => (c.type === 'function' ? c.function.name : c.type))).toEqual(['get_weather', 'get_time'])
  })

  it('raises the error class of each status with type, param and code from the error body', async () => {
    const cases: [number, new (...args: never[]) => Error][] = [
      [400, OpenAI.BadRequestError],
      [401, OpenAI.AuthenticationError],
      [403, OpenAI.PermissionDeniedError],
      [404, OpenAI.NotFoundError],
      [409, OpenAI.ConflictError],
      [422, OpenAI.UnprocessableEntityError],
      [429, OpenAI.RateLimitError],
      [500, OpenAI.InternalServerError],
      [503, OpenAI.InternalServerError],
    ]
    for (const [status, ErrorClass] of cases) {
      const body = toOpenAIError({ status, code: 'x', message: `failed with ${status}`, param: status === 400 ? 'n' : null })
      const { sdk } = client(() => ({ status, json: body, headers: status === 429 ? { 'retry-after': '1' } : ({} as Record<string, string>) }))
      const err = await sdk.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
      expect(err, String(status)).toBeInstanceOf(ErrorClass)
      const apiError = err as InstanceType<typeof OpenAI.APIError>
      expect(apiError.status).toBe(status)
      expect(apiError.type).toBe(body.error.type)
      expect(apiError.code).toBe(body.error.code)
      expect(apiError.param).toBe(body.error.param)
      expect(apiError.message).toContain(`failed with ${status}`)
    }
  })
})

describe('the openai SDK against the embeddings and responses mappers', () => {
  it('decodes base64 embeddings (what it asks for by default) back to the floats', async () => {
    const { sdk, requests } = client((body) => ({
      json: toEmbeddingsResponse([[0.5, -1.25]], { model: 'm', encoding: body.encoding_format === 'base64' ? 'base64' : 'float', inputTokens: 1 }),
    }))
    const res = await sdk.embeddings.create({ model: 'm', input: 'hello' })
    expect(requests[0]?.encoding_format).toBe('base64')
    expect(res.data[0]?.embedding).toEqual([0.5, -1.25])
  })

  it("accumulates the Responses event stream into the completed response (SDK's finalResponse)", async () => {
    const body = { model: 'main', input: 'hi', stream: true as const }
    const rmeta = { id: 'resp_abc', createdAt: 1_700_000_000, model: 'main', body }
    const encoder = createResponseEventEncoder(rmeta)
    const sse = [...encoder.start(), ...events.flatMap((e) => encoder.push(e))].map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
    const { sdk } = client(() => ({ sse }))
    const stream = sdk.responses.stream({ model: 'main', input: 'hi' })
    const deltas: string[] = []
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta))
    const final = await stream.finalResponse()
    expect(deltas).toEqual(['Let me ', 'check.'])
    // The SDK's stream snapshot has no output_text (only create() adds it); it adds `parsed` fields to items.
    expect(final.status).toBe('completed')
    expect(final.output).toMatchObject(toResponseObject(rmeta, { status: 'completed', result: collectResult(events) }).output)
  })

  it('reads a non-streaming response, computing output_text', async () => {
    const rmeta = { id: 'resp_abc', createdAt: 1_700_000_000, model: 'main', body: { model: 'main', input: 'hi' } }
    const { sdk } = client(() => ({ json: toResponseObject(rmeta, { status: 'completed', result: collectResult(events) }) }))
    const res = await sdk.responses.create({ model: 'main', input: 'hi' })
    expect(res.output_text).toBe('Let me check.')
    expect(res.usage?.total_tokens).toBe(14)
  })
})
