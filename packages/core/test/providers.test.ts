import { AppError } from '@openvesper/shared'
import { startFakeUpstream, waitFor, type FakeUpstream } from '@openvesper/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  createAnthropicProvider,
  createEchoProvider,
  createOpenAIProvider,
  createProviderRegistry,
  parseModelRef,
  parseRetryAfter,
  ProviderError,
  retryDelay,
  withRetries,
  type ChatMessage,
  type HttpProvider,
  type Provider,
  type ProviderEvent,
  type ToolSpec,
} from '../src/providers/index.js'
import { API_KEY, chat, collect, defineProviderContractTests } from './providers.contract.js'

defineProviderContractTests('openai', (upstream, options) =>
  createOpenAIProvider({ baseUrl: `${upstream.url}/v1`, apiKey: options?.apiKey ?? API_KEY, timeoutMs: options?.timeoutMs ?? 10_000 }),
)
defineProviderContractTests('anthropic', (upstream, options) =>
  createAnthropicProvider({ baseUrl: upstream.url, apiKey: options?.apiKey ?? API_KEY, timeoutMs: options?.timeoutMs ?? 10_000 }),
)

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
  { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '18C and sunny' },
  { role: 'user', content: 'And tomorrow?' },
]
const tools: ToolSpec[] = [{ name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }]

/** Reads a `text/event-stream` response into `{ event, data }` records. */
async function readSseRecords(res: Response): Promise<{ event: string | undefined; data: string }[]> {
  const text = await res.text()
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n')
      return {
        event: lines.find((l) => l.startsWith('event: '))?.slice('event: '.length),
        data: lines
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice('data: '.length))
          .join('\n'),
      }
    })
}

describe('fake upstream wire formats (plain fetch)', () => {
  let upstream: FakeUpstream
  beforeAll(async () => {
    upstream = await startFakeUpstream()
  })
  beforeEach(() => upstream.reset())
  afterAll(async () => {
    await upstream.close()
  })

  const post = (path: string, body: unknown) =>
    fetch(`${upstream.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  it('answers an OpenAI non-streaming chat.completion with usage and the default reply', async () => {
    const res = await post('/v1/chat/completions', { model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    })
    expect(upstream.requests[0]).toMatchObject({ provider: 'openai', path: '/v1/chat/completions', aborted: false })
  })

  it('streams OpenAI chunks with tool-call fragments, a usage chunk and [DONE]', async () => {
    upstream.enqueue({ text: 'hi there', toolCalls: [{ id: 'call_9', name: 'lookup', arguments: { q: 'abc' } }], usage: { inputTokens: 3, outputTokens: 4 } })
    const res = await post('/v1/chat/completions', { model: 'm', messages: [], stream: true, stream_options: { include_usage: true } })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const records = await readSseRecords(res)
    expect(records.at(-1)?.data).toBe('[DONE]')
    const chunks = records.slice(0, -1).map((r) => JSON.parse(r.data))
    for (const chunk of chunks) expect(chunk.object).toBe('chat.completion.chunk')
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')
    expect(text).toBe('hi there')
    const fragments = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? [])
    expect(fragments[0]).toMatchObject({ index: 0, id: 'call_9', type: 'function', function: { name: 'lookup' } })
    const argumentFragments = fragments.map((f) => f.function.arguments).filter(Boolean)
    expect(argumentFragments.length).toBeGreaterThanOrEqual(2)
    expect(argumentFragments.join('')).toBe('{"q":"abc"}')
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe('tool_calls')
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })
  })

  it('omits the OpenAI usage chunk unless stream_options.include_usage is set', async () => {
    const res = await post('/v1/chat/completions', { model: 'm', messages: [], stream: true })
    const records = await readSseRecords(res)
    const chunks = records.slice(0, -1).map((r) => JSON.parse(r.data))
    expect(chunks.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true)
  })

  it('answers an Anthropic non-streaming message with text and tool_use blocks', async () => {
    upstream.enqueue({ text: 'Sure.', toolCalls: [{ id: 'toolu_1', name: 'lookup', arguments: { q: 1 } }], usage: { inputTokens: 5, outputTokens: 6 } })
    const res = await post('/v1/messages', { model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
    expect(await res.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-x',
      content: [
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 1 } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 5, output_tokens: 6 },
    })
    expect(upstream.requests[0]?.provider).toBe('anthropic')
  })

  it('streams Anthropic events with event lines, text and input_json deltas', async () => {
    upstream.enqueue({ text: 'a b', toolCalls: [{ id: 'toolu_2', name: 'lookup', arguments: { q: 'xyz' } }], usage: { inputTokens: 2, outputTokens: 9 } })
    const res = await post('/v1/messages', { model: 'c', max_tokens: 10, messages: [], stream: true })
    const records = await readSseRecords(res)
    for (const record of records) expect(JSON.parse(record.data).type).toBe(record.event)
    expect(records.map((r) => r.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    const events = records.map((r) => JSON.parse(r.data))
    expect(events[0].message.usage.input_tokens).toBe(2)
    expect(events[6].content_block).toEqual({ type: 'tool_use', id: 'toolu_2', name: 'lookup', input: {} })
    const json = events.filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json)
    expect(json.join('')).toBe('{"q":"xyz"}')
    expect(events.at(-2)).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } })
  })

  it('answers errors in each provider shape with Retry-After', async () => {
    upstream.enqueue({ error: { status: 429, retryAfter: 7 } }, { error: { status: 529 } })
    const openai = await post('/v1/chat/completions', { model: 'm', messages: [] })
    expect(openai.status).toBe(429)
    expect(openai.headers.get('retry-after')).toBe('7')
    expect(await openai.json()).toMatchObject({ error: { type: 'requests', code: 'rate_limit_exceeded', message: expect.any(String) } })
    const anthropic = await post('/v1/messages', { model: 'm', messages: [] })
    expect(anthropic.status).toBe(529)
    expect(await anthropic.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: expect.any(String) } })
  })

  it('echoes the last user message and supports dynamic replies', async () => {
    upstream.enqueue({ echo: true }, (req) => ({ text: `model was ${req.body.model}` }))
    const echo = await post('/v1/messages', {
      model: 'm',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'user', content: [{ type: 'text', text: 'second' }] },
      ],
    })
    expect(await echo.json()).toMatchObject({ content: [{ type: 'text', text: 'second' }] })
    const dynamic = await post('/v1/chat/completions', { model: 'dyn', messages: [] })
    expect(await dynamic.json()).toMatchObject({ choices: [{ message: { content: 'model was dyn' } }] })
  })

  it('cuts a non-streamed body in the middle', async () => {
    upstream.enqueue({ text: 'never complete', cutAfterChunks: 1 })
    const res = await post('/v1/messages', { model: 'm', messages: [] })
    expect(res.status).toBe(200)
    await expect(res.text()).rejects.toThrow()
    expect(upstream.requests[0]?.aborted).toBe(false)
  })

  it('sends a broken body when malformed', async () => {
    upstream.enqueue({ malformed: true })
    const res = await post('/v1/chat/completions', { model: 'm', messages: [] })
    expect(res.status).toBe(200)
    await expect(res.json()).rejects.toThrow()
  })
})

describe('request mapping', () => {
  let upstream: FakeUpstream
  const created: HttpProvider[] = []
  beforeAll(async () => {
    upstream = await startFakeUpstream()
  })
  beforeEach(() => upstream.reset())
  afterEach(async () => {
    await Promise.all(created.splice(0).map((p) => p.close()))
  })
  afterAll(async () => {
    await upstream.close()
  })

  it('sends OpenAI chat completions with system, tool calls, tool results and tools', async () => {
    const provider = createOpenAIProvider({ baseUrl: `${upstream.url}/v1/`, apiKey: API_KEY, timeoutMs: 5_000 })
    created.push(provider)
    const { error } = await collect(provider.stream(chat({ model: 'gpt-4o-mini', messages: conversation, tools, maxTokens: 321 })))
    expect(error).toBeUndefined()
    const recorded = upstream.requests[0]
    expect(recorded?.path).toBe('/v1/chat/completions')
    expect(recorded?.headers.authorization).toBe(`Bearer ${API_KEY}`)
    expect(recorded?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C and sunny' },
        { role: 'user', content: 'And tomorrow?' },
      ],
      tools: [{ type: 'function', function: tools[0] }],
      max_tokens: 321,
      stream: true,
      stream_options: { include_usage: true },
    })
  })

  it('sends Anthropic messages with system, tool_use, merged tool_result turns and tools', async () => {
    const provider = createAnthropicProvider({ baseUrl: upstream.url, apiKey: API_KEY, timeoutMs: 5_000 })
    created.push(provider)
    const messages: ChatMessage[] = [
      ...conversation,
      { role: 'user', content: 'Also Lyon.' },
      { role: 'assistant', content: 'Checking both.', toolCalls: [{ id: 't2', name: 'get_weather', arguments: 'not json' }] },
      { role: 'tool', toolCallId: 't2', name: 'get_weather', content: 'failed', isError: true },
      { role: 'system', content: 'Be kind.' },
    ]
    const { error } = await collect(provider.stream(chat({ model: 'claude-x', messages, tools })))
    expect(error).toBeUndefined()
    const recorded = upstream.requests[0]
    expect(recorded?.path).toBe('/v1/messages')
    expect(recorded?.headers['x-api-key']).toBe(API_KEY)
    expect(recorded?.headers['anthropic-version']).toBe('2023-06-01')
    expect(recorded?.headers.authorization).toBeUndefined()
    expect(recorded?.body).toEqual({
      model: 'claude-x',
      max_tokens: 4096,
      system: 'You are terse.\n\nBe kind.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: '18C and sunny' },
            { type: 'text', text: 'And tomorrow?' },
            { type: 'text', text: 'Also Lyon.' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking both.' },
            { type: 'tool_use', id: 't2', name: 'get_weather', input: {} },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't2', content: 'failed', is_error: true }] },
      ],
      tools: [{ name: 'get_weather', description: 'Current weather', input_schema: tools[0]?.parameters }],
      stream: true,
    })
  })

  it('honours a real Retry-After of one second before retrying', async () => {
    upstream.enqueue({ error: { status: 429, retryAfter: '1' } }, { text: 'done waiting' })
    const provider = createOpenAIProvider({ baseUrl: `${upstream.url}/v1`, apiKey: API_KEY, timeoutMs: 5_000 })
    created.push(provider)
    const { text } = await collect(withRetries(provider, { maxRetries: 1, maxDelayMs: 5_000 }).stream(chat()))
    expect(text).toBe('done waiting')
    const [first, second] = upstream.requests
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(990)
  })
})

describe('echo provider', () => {
  it('replies Echo: <last user message> word by word, deterministically, with word-count usage marked as an estimate', async () => {
    const provider = createEchoProvider()
    const request = () =>
      chat({
        messages: [
          { role: 'system', content: 'ignored system words' },
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'an answer' },
          { role: 'user', content: 'hello brave new world' },
        ],
      })
    const first = await collect(provider.stream(request()))
    const second = await collect(provider.stream(request()))
    expect(first.events).toEqual(second.events)
    expect(first.events).toEqual([
      { type: 'text_delta', text: 'Echo: ' },
      { type: 'text_delta', text: 'hello ' },
      { type: 'text_delta', text: 'brave ' },
      { type: 'text_delta', text: 'new ' },
      { type: 'text_delta', text: 'world' },
      { type: 'done', stopReason: 'end_turn', usage: { inputTokens: 11, outputTokens: 5, estimated: true } },
    ])
  })

  it('stops with the signal reason when aborted mid-stream', async () => {
    const controller = new AbortController()
    const reason = new Error('stop echo')
    const { events, error } = await collect(
      createEchoProvider().stream(chat({ messages: [{ role: 'user', content: 'one two three four' }], signal: controller.signal })),
      () => controller.abort(reason),
    )
    expect(error).toBe(reason)
    expect(events).toEqual([{ type: 'text_delta', text: 'Echo: ' }])
  })
})

describe('withRetries', () => {
  /** A provider whose attempts follow a script: an error to throw, or events to yield (then maybe throw). */
  function scripted(attempts: { events?: ProviderEvent[]; error?: unknown }[]): Provider & { calls: number } {
    const state = {
      name: 'scripted',
      calls: 0,
      async *stream(): AsyncGenerator<ProviderEvent> {
        const attempt = attempts[state.calls++] ?? {}
        for (const event of attempt.events ?? []) yield event
        if (attempt.error) throw attempt.error
      },
    }
    return state
  }
  const unavailable = () => new ProviderError('upstream_unavailable', 'down', { status: 503, retryable: true })
  const done: ProviderEvent = { type: 'done', stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 } }

  it('never retries after an event was yielded', async () => {
    const inner = scripted([{ events: [{ type: 'text_delta', text: 'partial' }], error: unavailable() }, { events: [done] }])
    const { events, error } = await collect(withRetries(inner, { maxRetries: 3, maxDelayMs: 10, sleep: async () => {} }).stream(chat()))
    expect(error).toBeInstanceOf(ProviderError)
    expect(events).toEqual([{ type: 'text_delta', text: 'partial' }])
    expect(inner.calls).toBe(1)
  })

  it('does not retry errors that are not retryable ProviderErrors', async () => {
    const inner = scripted([{ error: new Error('bug') }, { events: [done] }])
    const { error } = await collect(withRetries(inner, { maxRetries: 3, maxDelayMs: 10, sleep: async () => {} }).stream(chat()))
    expect((error as Error).message).toBe('bug')
    expect(inner.calls).toBe(1)
  })

  it('backs off exponentially with jitter, capped at maxDelayMs', async () => {
    const inner = scripted([{ error: unavailable() }, { error: unavailable() }, { error: unavailable() }, { error: unavailable() }, { events: [done] }])
    const delays: number[] = []
    const wrapped = withRetries(inner, {
      maxRetries: 4,
      maxDelayMs: 1_000,
      baseDelayMs: 300,
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms)
      },
    })
    const { events, error } = await collect(wrapped.stream(chat()))
    expect(error).toBeUndefined()
    expect(events).toEqual([done])
    expect(delays).toEqual([300, 600, 1_000, 1_000])
    const low = retryDelay(unavailable(), 1, { baseDelayMs: 300, maxDelayMs: 1_000, random: () => 0 })
    expect(low).toBe(300)
  })

  it('caps a Retry-After at maxDelayMs', () => {
    const limited = new ProviderError('upstream_rate_limited', 'slow down', { retryable: true, retryAfterMs: 120_000 })
    expect(retryDelay(limited, 0, { baseDelayMs: 250, maxDelayMs: 2_000, random: Math.random })).toBe(2_000)
  })

  it('rejects immediately with the signal reason when aborted during the wait', async () => {
    const inner = scripted([{ error: unavailable() }, { events: [done] }])
    const controller = new AbortController()
    const reason = new Error('abort during backoff')
    let waiting = false
    const wrapped = withRetries(inner, {
      maxRetries: 2,
      maxDelayMs: 60_000,
      // A sleep that never resolves on its own: only the abort can end the wait.
      sleep: () => {
        waiting = true
        return new Promise<void>(() => {})
      },
    })
    const pending = collect(wrapped.stream(chat({ signal: controller.signal })))
    await waitFor(() => waiting, { what: 'the retry wait' })
    controller.abort(reason)
    expect((await pending).error).toBe(reason)
    expect(inner.calls).toBe(1)
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds, HTTP dates and retry-after-ms', () => {
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2_000)
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500)
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }, now)).toBe(3_000)
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, now)).toBe(0)
    expect(parseRetryAfter({ 'retry-after-ms': '150', 'retry-after': '9' }, now)).toBe(150)
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined()
    expect(parseRetryAfter({}, now)).toBeUndefined()
  })

  it('parses an HTTP-date Retry-After from the upstream into retryAfterMs', async () => {
    const upstream = await startFakeUpstream()
    const provider = createAnthropicProvider({ baseUrl: upstream.url, apiKey: API_KEY, timeoutMs: 5_000 })
    try {
      upstream.enqueue({ error: { status: 429, retryAfter: new Date(Date.now() + 60_000).toUTCString() } })
      const { error } = await collect(provider.stream(chat()))
      expect(error).toBeInstanceOf(ProviderError)
      const { reason, options } = error as ProviderError
      expect(reason).toBe('upstream_rate_limited')
      expect(options.retryable).toBe(true)
      expect(options.retryAfterMs).toBeGreaterThan(55_000)
      expect(options.retryAfterMs).toBeLessThanOrEqual(60_000)
    } finally {
      await provider.close()
      await upstream.close()
    }
  })
})

describe('model refs and the provider registry', () => {
  it('parses provider/model refs and the bare echo model', () => {
    expect(parseModelRef('openai/gpt-4o-mini')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' })
    expect(parseModelRef('anthropic/claude-sonnet-4-5')).toEqual({ provider: 'anthropic', model: 'claude-sonnet-4-5' })
    expect(parseModelRef('openai/meta-llama/Llama-3-8b')).toEqual({ provider: 'openai', model: 'meta-llama/Llama-3-8b' })
    expect(parseModelRef('echo')).toEqual({ provider: 'echo', model: 'echo' })
    for (const bad of ['gpt-4o', '/model', 'openai/', '']) {
      expect(() => parseModelRef(bad)).toThrow(AppError)
    }
  })

  it('returns configured providers with retries and rejects unconfigured ones', async () => {
    const upstream = await startFakeUpstream()
    const registry = createProviderRegistry({
      openai: { baseUrl: `${upstream.url}/v1`, apiKey: API_KEY, timeoutMs: 5_000 },
      retry: { maxRetries: 1, maxDelayMs: 0 },
    })
    try {
      upstream.enqueue({ error: { status: 500 } }, { text: 'from openai' })
      const openai = registry.get('openai')
      expect(openai.name).toBe('openai')
      expect((await collect(openai.stream(chat()))).text).toBe('from openai')
      expect(upstream.requests).toHaveLength(2)
      expect((await collect(registry.get('echo').stream(chat()))).text).toBe('Echo: hello there')
      expect(() => registry.get('anthropic')).toThrow(expect.objectContaining({ code: 'invalid_request' }))
      expect(() => registry.get('mistral')).toThrow(AppError)
    } finally {
      await registry.close()
      await upstream.close()
    }
  })
})

describe('upstream error details', () => {
  it('redact the API key in every form an upstream may echo it, however short', async () => {
    const { sanitize } = await import('../src/providers/http.js')
    const key = 'sk-short/key+1'
    const echoed = `bad key ${key}, as sent: ${encodeURIComponent(key)}, Basic ${Buffer.from(key).toString('base64')} / ${Buffer.from(key).toString('base64url')}`
    const out = sanitize(echoed, key)
    expect(out).toBe('bad key [redacted], as sent: [redacted], Basic [redacted] / [redacted]')
  })
})
