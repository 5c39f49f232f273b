import Anthropic from '@anthropic-ai/sdk'
import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { buildTestApp, MODES, type TestApp } from '../../support/helpers.js'
import { rejection, sseEvents } from './support.js'

const weather = {
  name: 'get_weather',
  description: 'Weather of a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
}
const ask = [{ role: 'user' as const, content: 'Weather in Paris?' }]

describe.each(MODES)('provider models on the Anthropic-compatible surface, through the official @anthropic-ai/sdk (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  let client: Anthropic

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({
      mode,
      env: { OPENAI_BASE_URL: `${up.url}/v1`, ANTHROPIC_BASE_URL: up.url, OPENVESPER_MODEL: 'openai/test-model', OPENVESPER_UPSTREAM_MAX_RETRIES: '0' },
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = new Anthropic({ apiKey: await t.tokenWith(['models:use']), baseURL: `${base}/anthropic`, maxRetries: 0 })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  describe('an anthropic/ model goes through to the Anthropic upstream', () => {
    it('forwards system, tools, tool_choice, stop_sequences, sampling and metadata.user_id, and answers with the upstream message', async () => {
      up.enqueue({
        text: 'Checking.',
        toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } }],
        usage: { inputTokens: 12, outputTokens: 5 },
      })
      // Sampling options as clients send them (this SDK version's types no longer list temperature).
      const params = {
        model: 'anthropic/claude-test',
        max_tokens: 200,
        system: [{ type: 'text', text: 'Be brief.' }],
        messages: ask,
        tools: [weather],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        stop_sequences: ['END'],
        temperature: 0.2,
        top_k: 5,
        metadata: { user_id: 'user-42' },
      }
      const message = await client.messages.create(params as Anthropic.MessageCreateParamsNonStreaming)
      expect(message).toMatchObject({
        type: 'message',
        role: 'assistant',
        model: 'anthropic/claude-test',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 5 },
      })
      expect(message.id).toMatch(/^msg_/)
      expect(up.requests).toHaveLength(1)
      const sent = up.requests[0]!
      expect(sent.provider).toBe('anthropic')
      expect(sent.headers['x-api-key']).not.toBe(undefined)
      expect(sent.body).toMatchObject({
        model: 'claude-test',
        max_tokens: 200,
        system: 'Be brief.',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }],
        tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: weather.input_schema }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        stop_sequences: ['END'],
        temperature: 0.2,
        top_k: 5,
        metadata: { user_id: 'user-42' },
      })
    })

    it('reports the stop sequence that ended the answer, streamed or not', async () => {
      up.enqueue({ text: 'one two', stopSequence: 'END' }, { text: 'one two', stopSequence: 'END' })
      const params = { model: 'anthropic/claude-test', max_tokens: 50, messages: ask, stop_sequences: ['END'] }
      const message = await client.messages.create(params)
      expect(message).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' })
      const final = await client.messages.stream(params).finalMessage()
      expect(final).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END', content: [{ type: 'text', text: 'one two' }] })
    })

    it('streams tool use as input_json_delta; finalMessage() has the parsed input; the tool_result round trip reaches the upstream', async () => {
      up.enqueue({
        text: 'Let me check.',
        toolCalls: [{ id: 'toolu_9', name: 'get_weather', arguments: { city: 'Paris' } }],
        usage: { inputTokens: 9, outputTokens: 6 },
      })
      const stream = client.messages.stream({ model: 'anthropic/claude-test', max_tokens: 100, messages: ask, tools: [weather] })
      const deltas: string[] = []
      stream.on('inputJson', (partial) => deltas.push(partial))
      const final = await stream.finalMessage()
      expect(final.stop_reason).toBe('tool_use')
      expect(final.usage).toMatchObject({ input_tokens: 9, output_tokens: 6 })
      expect(final.content).toEqual([
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: { city: 'Paris' } },
      ])
      expect(deltas.join('')).toBe('{"city":"Paris"}')

      up.enqueue({ text: 'Sunny, 18°C.' })
      const answer = await client.messages.create({
        model: 'anthropic/claude-test',
        max_tokens: 100,
        tools: [weather],
        messages: [
          ...ask,
          { role: 'assistant', content: final.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: '18°C, sunny' }] },
        ],
      })
      expect(answer.content).toEqual([{ type: 'text', text: 'Sunny, 18°C.' }])
      expect(up.requests[1]!.body.messages).toEqual([
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me check.' },
            { type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: '18°C, sunny' }] },
      ])
    })

    it("sends Anthropic's event sequence for a tool call: text block, then tool_use block with input_json_delta", async () => {
      up.enqueue({ text: 'Hi', toolCalls: [{ id: 'toolu_2', name: 'get_weather', arguments: { city: 'Oslo' } }] })
      const res = await fetch(`${base}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': client.apiKey!, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'anthropic/claude-test', max_tokens: 100, messages: ask, tools: [weather], stream: true }),
      })
      expect(res.status).toBe(200)
      const events = sseEvents(await res.text())
      expect(events.map((e) => (e.data.index === undefined ? e.event : `${e.event}:${e.data.index}`))).toEqual([
        'message_start',
        'ping',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'content_block_start:1',
        'content_block_delta:1',
        'content_block_stop:1',
        'message_delta',
        'message_stop',
      ])
      expect(events[5]!.data.content_block).toEqual({ type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: {} })
      expect(events[6]!.data.delta).toEqual({ type: 'input_json_delta', partial_json: '{"city":"Oslo"}' })
      expect(events[8]!.data.delta).toEqual({ stop_reason: 'tool_use', stop_sequence: null })
    })
  })

  describe('an openai/ model is translated both ways', () => {
    it('sends an OpenAI chat completions body and answers tool calls as tool_use blocks', async () => {
      up.enqueue({
        text: 'Looking.',
        toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Rome' } }],
        usage: { inputTokens: 20, outputTokens: 7 },
      })
      const message = await client.messages.create({
        model: 'openai/test-model',
        max_tokens: 64,
        system: 'Be brief.',
        messages: ask,
        tools: [weather],
        tool_choice: { type: 'tool', name: 'get_weather' },
        stop_sequences: ['END'],
        metadata: { user_id: 'user-7' },
      })
      expect(message).toMatchObject({
        model: 'openai/test-model',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Rome' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 20, output_tokens: 7 },
      })
      const sent = up.requests[0]!
      expect(sent.provider).toBe('openai')
      expect(sent.body).toMatchObject({
        model: 'test-model',
        max_tokens: 64,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Weather in Paris?' },
        ],
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: weather.input_schema } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        stop: ['END'],
        user: 'user-7',
        stream: true,
      })
    })

    it("streams an OpenAI answer as Anthropic's events, and maps length to max_tokens", async () => {
      up.enqueue({ text: 'one two three', stopReason: 'max_tokens', usage: { inputTokens: 3, outputTokens: 3 } })
      const stream = client.messages.stream({ model: 'openai/test-model', max_tokens: 3, messages: ask })
      const texts: string[] = []
      stream.on('text', (text) => texts.push(text))
      const final = await stream.finalMessage()
      expect(texts.join('')).toBe('one two three')
      expect(final).toMatchObject({
        content: [{ type: 'text', text: 'one two three' }],
        stop_reason: 'max_tokens',
        usage: { input_tokens: 3, output_tokens: 3 },
      })
    })

    it('translates a tool_result round trip into OpenAI tool messages', async () => {
      up.enqueue({ text: 'Warm.' })
      await client.messages.create({
        model: 'openai/test-model',
        max_tokens: 50,
        tools: [weather],
        messages: [
          ...ask,
          { role: 'assistant', content: [{ type: 'tool_use', id: 'call_5', name: 'get_weather', input: { city: 'Rome' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_5', content: [{ type: 'text', text: '25°C' }] }] },
        ],
      })
      expect(up.requests[0]!.body.messages).toEqual([
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_5', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
        { role: 'tool', tool_call_id: 'call_5', content: '25°C' },
      ])
    })
  })

  describe('failures, scopes and disconnects', () => {
    it('aborts the upstream request when the client disconnects mid-stream', async () => {
      up.enqueue({ text: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 20 })
      const controller = new AbortController()
      const res = await fetch(`${base}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': client.apiKey!, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'anthropic/claude-test', max_tokens: 500, messages: ask, stream: true }),
        signal: controller.signal,
      })
      const reader = res.body!.getReader()
      let seen = ''
      while (!seen.includes('content_block_delta')) seen += new TextDecoder().decode((await reader.read()).value)
      controller.abort()
      await waitFor(() => up.requests[0]?.aborted === true, { timeoutMs: 5000 })
      expect(up.requests).toHaveLength(1)
    })

    it('aborts the upstream request when a non-streaming client disconnects', async () => {
      up.enqueue({ hang: true })
      const controller = new AbortController()
      const pending = fetch(`${base}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': client.apiKey!, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/test-model', max_tokens: 5, messages: ask }),
        signal: controller.signal,
      }).catch((err: unknown) => err)
      await waitFor(() => up.requests.length === 1, { timeoutMs: 5000 })
      controller.abort()
      await pending
      await waitFor(() => up.requests[0]?.aborted === true, { timeoutMs: 5000 })
    })

    it('answers an upstream rate limit with RateLimitError and its Retry-After; a refused request with BadRequestError', async () => {
      up.enqueue({ error: { status: 429, retryAfter: 7 } })
      const limited = await rejection(client.messages.create({ model: 'anthropic/claude-test', max_tokens: 5, messages: ask }))
      expect(limited).toBeInstanceOf(Anthropic.RateLimitError)
      expect((limited as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after')).toBe('7')
      expect((limited as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } })
      up.enqueue({ error: { status: 400 } })
      const refused = await rejection(client.messages.stream({ model: 'openai/test-model', max_tokens: 5, messages: ask }).finalMessage())
      expect(refused).toBeInstanceOf(Anthropic.BadRequestError)
    })

    it('ends a stream cut by the upstream with an error event the SDK throws', async () => {
      up.enqueue({ text: 'a b c d e f', cutAfterChunks: 2 })
      const err = await rejection(client.messages.stream({ model: 'anthropic/claude-test', max_tokens: 50, messages: ask }).finalMessage())
      expect(err).toBeInstanceOf(Anthropic.APIError)
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'api_error' } })
    })

    it('keeps agents and provider models apart: models:use cannot run an agent, runs:write cannot call a provider', async () => {
      const agentErr = await rejection(client.messages.create({ model: 'main', max_tokens: 5, messages: ask }))
      expect(agentErr).toBeInstanceOf(Anthropic.PermissionDeniedError)
      const runner = new Anthropic({ apiKey: await t.tokenWith(['runs:write']), baseURL: `${base}/anthropic`, maxRetries: 0 })
      const providerErr = await rejection(runner.messages.create({ model: 'openai/test-model', max_tokens: 5, messages: ask }))
      expect(providerErr).toBeInstanceOf(Anthropic.PermissionDeniedError)
      expect((providerErr as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'permission_error' } })
      const unknown = await rejection(client.messages.create({ model: 'nosuch/model', max_tokens: 5, messages: ask }))
      expect(unknown).toBeInstanceOf(Anthropic.NotFoundError)
      expect(up.requests).toHaveLength(0)
    })
  })
})
