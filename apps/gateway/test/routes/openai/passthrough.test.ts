import { modelUsage } from '@openvesper/db'
import { type FakeUpstream, fakeEmbedding, startFakeUpstream } from '@openvesper/testing'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../../support/helpers.js'

/** The official SDK, unchanged but for the base URL and key; no retries, so an error surfaces at once. */
const sdk = (base: string, apiKey: string) => new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0 })

async function rejection(call: Promise<unknown>): Promise<any> {
  try {
    await call
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe.each(MODES)('pass-through to provider models on /v1/chat/completions (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  let client: OpenAI

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({
      mode,
      env: upstreamEnv(up, {
        ANTHROPIC_BASE_URL: up.url,
        OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
        OPENVESPER_MODEL_ALIASES: 'fast=openai/gpt-fast,claude=anthropic/claude-x,embed=openai/text-embedding-3-small',
      }),
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = sdk(base, t.adminToken)
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  const usageRows = async () => {
    await t.services.passthrough.usage.flush()
    return t.runtime.db.db.select().from(modelUsage)
  }

  describe('OpenAI wire (forwarded)', () => {
    it('forwards the body with the provider model and the provider key, and answers with the upstream completion', async () => {
      up.enqueue({ text: 'Straight from the provider.', usage: { inputTokens: 11, outputTokens: 4 } })
      const completion = await client.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello' },
        ],
        temperature: 0.2,
        max_tokens: 50,
      })
      expect(completion.choices[0]!.message.content).toBe('Straight from the provider.')
      expect(completion.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 4 })
      expect(up.requests).toHaveLength(1)
      const sent = up.requests[0]!
      expect(sent.provider).toBe('openai')
      expect(sent.body).toMatchObject({
        model: 'gpt-4o-mini',
        temperature: 0.2,
        max_tokens: 50,
        messages: [{ role: 'system' }, { role: 'user', content: 'hello' }],
      })
      // The provider key replaces the client's gateway token.
      expect(sent.headers.authorization).toMatch(/^Bearer sk-canary-openai-/)
      expect(String(sent.headers.authorization)).not.toContain(t.adminToken)
      const rows = (await usageRows()).filter((r) => r.model === 'gpt-4o-mini')
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ route: 'chat.completions', provider: 'openai', status: 200, inputTokens: 11, outputTokens: 4, principalId: 'prn_admin' })
    })

    it('keeps the upstream connection alive between calls (one pooled socket)', async () => {
      await client.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'a' }] })
      await client.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'b' }] })
      expect(up.requests).toHaveLength(2)
      expect(up.requests[1]!.remotePort).toBe(up.requests[0]!.remotePort)
    })

    it('streams the upstream chunks through, with the usage chunk when asked', async () => {
      up.enqueue({ text: 'one two three four five', usage: { inputTokens: 3, outputTokens: 5 } })
      const stream = await client.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'count' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      const chunks = []
      for await (const chunk of stream) chunks.push(chunk)
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('one two three four five')
      expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(5)
      expect(chunks.at(-1)!.choices).toEqual([])
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })
      expect(chunks[0]!.id).toMatch(/^chatcmpl-/)
    })

    it('asks the upstream for usage on every stream, but does not show the usage chunk to a client that did not ask', async () => {
      up.enqueue({ text: 'alpha beta', usage: { inputTokens: 2, outputTokens: 2 } })
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/no-usage-asked', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const data = (await res.text())
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
      expect(data.at(-1)).toBe('[DONE]')
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d))
      expect(chunks.every((c) => Array.isArray(c.choices) && c.choices.length === 1)).toBe(true)
      expect(up.requests[0]!.body.stream_options).toEqual({ include_usage: true })
      const row = (await usageRows()).find((r) => r.model === 'no-usage-asked')
      expect(row).toMatchObject({ inputTokens: 2, outputTokens: 2, status: 200 })
    })

    it('aborts the upstream request when the client disconnects mid-stream', async () => {
      up.enqueue({ text: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 150 })
      const controller = new AbortController()
      const stream = await client.chat.completions.create(
        { model: 'openai/slow', messages: [{ role: 'user', content: 'go' }], stream: true },
        { signal: controller.signal },
      )
      let seen = 0
      try {
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) seen++
          if (seen === 2) controller.abort()
        }
      } catch {
        // the SDK may end the iteration or throw its abort error
      }
      expect(seen).toBe(2)
      await until(() => up.requests[0]?.aborted === true)
      expect(up.requests[0]!.aborted).toBe(true)
    })

    it('resolves a configured alias to its provider model and lists it', async () => {
      await client.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'x' }] })
      expect(up.requests[0]!.body.model).toBe('gpt-fast')
      const ids = (await client.models.list()).data.map((m) => m.id)
      expect(ids).toContain('fast')
      expect(await client.models.retrieve('claude')).toMatchObject({ id: 'claude', kind: 'model', owned_by: 'anthropic' })
    })
  })

  describe('upstream errors', () => {
    it('maps a 429 to RateLimitError with the upstream Retry-After', async () => {
      up.enqueue({ error: { status: 429, retryAfter: 7 } })
      const err = await rejection(client.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'x' }] }))
      expect(err).toBeInstanceOf(OpenAI.RateLimitError)
      expect(err.headers.get('retry-after')).toBe('7')
      expect(err.code).toBe('rate_limit_exceeded')
    })

    it('maps a 500 to an InternalServerError-class error that names neither the upstream host nor the key', async () => {
      up.enqueue({ error: { status: 500, body: { error: { message: `boom at ${up.url} with key sk-abcdefghijklmnopqrstuvwxyz123456` } } } })
      const err = await rejection(client.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'x' }] }))
      expect(err).toBeInstanceOf(OpenAI.APIError)
      expect(err.status).toBe(503)
      expect(err.message).not.toContain('sk-abcdefghijklmnopqrstuvwxyz123456')
      expect(err.message).toContain('openai upstream answered HTTP 500')
    })

    it('answers a provider that is not configured, or a bare unknown name, with NotFoundError model_not_found', async () => {
      for (const model of ['nope/some-model', 'no-such-agent']) {
        const err = await rejection(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }))
        expect(err).toBeInstanceOf(OpenAI.NotFoundError)
        expect(err.code).toBe('model_not_found')
      }
      expect(up.requests).toHaveLength(0)
    })

    it('a cut stream ends with an OpenAI error event and no [DONE]', async () => {
      up.enqueue({ text: 'one two three four', cutAfterChunks: 2 })
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/cut', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      })
      const data = (await res.text())
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
      expect(data).not.toContain('[DONE]')
      expect(JSON.parse(data.at(-1)!)).toMatchObject({ error: { code: 'upstream_stream_interrupted' } })
    })
  })

  describe('scopes', () => {
    it('needs models:use for a provider model and runs:write for an agent; neither implies the other', async () => {
      const agentsOnly = sdk(base, await t.tokenWith(['runs:write', 'runs:read']))
      const modelsOnly = sdk(base, await t.tokenWith(['models:use']))
      const denied = await rejection(agentsOnly.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'x' }] }))
      expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(up.requests).toHaveLength(0)
      const completion = await modelsOnly.chat.completions.create({ model: 'openai/m', messages: [{ role: 'user', content: 'x' }] })
      expect(completion.choices[0]!.message.content).toBe('ok')
      expect((await modelsOnly.models.list()).data.length).toBeGreaterThan(0)
      // The default agent `main` (no agents file) is refused to a models:use token, before any run or upstream call.
      expect(t.services.agents.has('main')).toBe(true)
      up.reset()
      const noAgent = await rejection(modelsOnly.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'x' }], stream: true }))
      expect(noAgent).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(up.requests).toHaveLength(0)
    })
  })

  describe('Anthropic provider models (translated)', () => {
    it('translates messages, tools and the answer, with usage and stop reason', async () => {
      up.enqueue({ text: 'Bonjour', usage: { inputTokens: 9, outputTokens: 1 } })
      const completion = await client.chat.completions.create({
        model: 'anthropic/claude-x',
        messages: [
          { role: 'system', content: 'Answer in French.' },
          { role: 'user', content: 'hello' },
        ],
        max_tokens: 64,
      })
      expect(completion).toMatchObject({ object: 'chat.completion', model: 'anthropic/claude-x' })
      expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { role: 'assistant', content: 'Bonjour' } })
      expect(completion.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 })
      const sent = up.requests[0]!
      expect(sent.provider).toBe('anthropic')
      expect(sent.headers['x-api-key']).toMatch(/^sk-ant-canary-/)
      expect(sent.body).toMatchObject({
        model: 'claude-x',
        max_tokens: 64,
        system: 'Answer in French.',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
      })
    })

    it('returns Anthropic tool_use as OpenAI tool_calls, and sends tool results back as tool_result blocks', async () => {
      up.enqueue({ toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } }] })
      const tools = [
        {
          type: 'function' as const,
          function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ]
      const first = await client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'weather in Paris?' }], tools })
      expect(first.choices[0]!.finish_reason).toBe('tool_calls')
      const call = first.choices[0]!.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } }
      expect(call).toMatchObject({ id: 'toolu_1', type: 'function', function: { name: 'get_weather' } })
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' })
      expect(up.requests[0]!.body.tools).toEqual([{ name: 'get_weather', description: 'weather', input_schema: tools[0]!.function.parameters }])

      up.enqueue({ text: 'Sunny.' })
      const second = await client.chat.completions.create({
        model: 'claude',
        tools,
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          first.choices[0]!.message,
          { role: 'tool', tool_call_id: 'toolu_1', content: '{"sky":"clear"}' },
        ],
      })
      expect(second.choices[0]!.message.content).toBe('Sunny.')
      expect(up.requests[1]!.body.messages).toEqual([
        { role: 'user', content: [{ type: 'text', text: 'weather in Paris?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"sky":"clear"}' }] },
      ])
    })

    it('streams Anthropic events as chat.completion.chunks: text, tool call deltas, finish_reason, usage', async () => {
      up.enqueue({ text: 'Let me check.', toolCalls: [{ id: 'toolu_2', name: 'lookup', arguments: { q: 'x' } }], usage: { inputTokens: 4, outputTokens: 6 } })
      const stream = await client.chat.completions.create({
        model: 'anthropic/claude-x',
        messages: [{ role: 'user', content: 'look it up' }],
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
        stream: true,
        stream_options: { include_usage: true },
      })
      const chunks = []
      for await (const chunk of stream) chunks.push(chunk)
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Let me check.')
      const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
      expect(calls[0]).toMatchObject({ index: 0, id: 'toolu_2', function: { name: 'lookup' } })
      expect(JSON.parse(calls.map((c) => c.function?.arguments ?? '').join(''))).toEqual({ q: 'x' })
      expect(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0]!.finish_reason)).toEqual(['tool_calls'])
      expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 6 })
      const row = (await usageRows()).find((r) => r.provider === 'anthropic' && r.inputTokens === 4)
      expect(row).toMatchObject({ model: 'claude-x', outputTokens: 6, status: 200 })
    })

    it('maps max_tokens to length, and an Anthropic 429 to RateLimitError', async () => {
      up.enqueue({ text: 'truncated', stopReason: 'max_tokens' })
      const cut = await client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] })
      expect(cut.choices[0]!.finish_reason).toBe('length')
      up.enqueue({ error: { status: 429, retryAfter: 3 } })
      const err = await rejection(client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] }))
      expect(err).toBeInstanceOf(OpenAI.RateLimitError)
      expect(err.headers.get('retry-after')).toBe('3')
    })

    it('aborts the Anthropic upstream request when the client disconnects mid-stream', async () => {
      up.enqueue({ text: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 150 })
      const controller = new AbortController()
      const stream = await client.chat.completions.create(
        { model: 'claude', messages: [{ role: 'user', content: 'go' }], stream: true },
        { signal: controller.signal },
      )
      let seen = 0
      try {
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) seen++
          if (seen === 2) controller.abort()
        }
      } catch {
        // the SDK may end the iteration or throw its abort error
      }
      expect(seen).toBe(2)
      await until(() => up.requests[0]?.aborted === true)
    })
  })

  describe('embeddings', () => {
    it('forwards a string input and answers with the provider vectors (floats), recording the usage', async () => {
      const res = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello world', encoding_format: 'float' })
      expect(res.object).toBe('list')
      expect(res.data).toHaveLength(1)
      expect(res.data[0]!.embedding).toEqual(fakeEmbedding('hello world', 8))
      expect(res.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 })
      expect(up.embeddingRequests[0]).toMatchObject({ body: { model: 'text-embedding-3-small', input: 'hello world' } })
      const row = (await usageRows()).find((r) => r.route === 'embeddings')
      expect(row).toMatchObject({ provider: 'openai', model: 'text-embedding-3-small', inputTokens: 2, outputTokens: 0, status: 200 })
    })

    it('forwards an array with dimensions and base64 encoding (what the SDK asks for by default), which the SDK decodes', async () => {
      const res = await client.embeddings.create({ model: 'embed', input: ['a b', 'c'], dimensions: 4 })
      expect(up.embeddingRequests[0]!.body).toMatchObject({ model: 'text-embedding-3-small', input: ['a b', 'c'], dimensions: 4, encoding_format: 'base64' })
      expect(res.data.map((d) => d.embedding)).toEqual([fakeEmbedding('a b', 4), fakeEmbedding('c', 4)])
      const raw = await fetch(`${base}/v1/embeddings`, {
        method: 'POST',
        headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'embed', input: 'c', dimensions: 4, encoding_format: 'base64' }),
      })
      const body = (await raw.json()) as { data: { embedding: string }[] }
      expect(typeof body.data[0]!.embedding).toBe('string')
      const bytes = Buffer.from(body.data[0]!.embedding, 'base64')
      expect(Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4))).toEqual(fakeEmbedding('c', 4))
    })

    it('refuses token input, an Anthropic model and a missing models:use in the OpenAI error shape, calling nothing', async () => {
      const tokens = await rejection(client.embeddings.create({ model: 'embed', input: [1, 2, 3] }))
      expect(tokens).toBeInstanceOf(OpenAI.BadRequestError)
      expect(tokens.param).toBe('input')
      const anthropic = await rejection(client.embeddings.create({ model: 'anthropic/claude-x', input: 'x' }))
      expect(anthropic).toBeInstanceOf(OpenAI.BadRequestError)
      expect(anthropic.param).toBe('model')
      const unknown = await rejection(client.embeddings.create({ model: 'nope', input: 'x' }))
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError)
      const invalid = await rejection(client.embeddings.create({ model: 'embed', input: 'x', dimensions: 0 }))
      expect(invalid).toBeInstanceOf(OpenAI.BadRequestError)
      const agentsOnly = sdk(base, await t.tokenWith(['runs:write']))
      expect(await rejection(agentsOnly.embeddings.create({ model: 'embed', input: 'x' }))).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(up.requests).toHaveLength(0)
    })

    it('maps an upstream 429 to RateLimitError with its Retry-After', async () => {
      up.enqueueEmbeddingFaults({ status: 429, retryAfter: 2 })
      const err = await rejection(client.embeddings.create({ model: 'embed', input: 'x' }))
      expect(err).toBeInstanceOf(OpenAI.RateLimitError)
      expect(err.headers.get('retry-after')).toBe('2')
    })
  })

  describe('responses (stateless, provider models)', () => {
    it('answers a string input with a response object, instructions as the system message', async () => {
      up.enqueue({ text: 'Paris.', usage: { inputTokens: 6, outputTokens: 1 } })
      const response = await client.responses.create({ model: 'openai/gpt-4o-mini', input: 'Capital of France?', instructions: 'One word.' })
      expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'openai/gpt-4o-mini', store: false, instructions: 'One word.' })
      expect(response.id).toMatch(/^resp_/)
      expect(response.output_text).toBe('Paris.')
      expect(response.usage).toMatchObject({ input_tokens: 6, output_tokens: 1, total_tokens: 7 })
      expect(up.requests[0]!.body).toMatchObject({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'One word.' },
          { role: 'user', content: 'Capital of France?' },
        ],
      })
      const row = (await usageRows()).find((r) => r.route === 'responses')
      expect(row).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 6, outputTokens: 1 })
    })

    it('returns function calls as function_call items and takes their outputs back as input items (Anthropic, translated)', async () => {
      up.enqueue({ toolCalls: [{ id: 'toolu_9', name: 'lookup', arguments: { q: 'tides' } }] })
      const tools = [{ type: 'function' as const, name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } }, strict: false }]
      const first = await client.responses.create({ model: 'claude', input: 'tides today?', tools })
      const call = first.output.find((o) => o.type === 'function_call')
      expect(call).toMatchObject({ type: 'function_call', call_id: 'toolu_9', name: 'lookup' })
      up.enqueue({ text: 'High at noon.' })
      const second = await client.responses.create({
        model: 'claude',
        tools,
        input: [
          { role: 'user', content: 'tides today?' },
          { type: 'function_call', call_id: 'toolu_9', name: 'lookup', arguments: '{"q":"tides"}' },
          { type: 'function_call_output', call_id: 'toolu_9', output: 'noon' },
        ],
      })
      expect(second.output_text).toBe('High at noon.')
      expect(up.requests[1]!.body.messages.at(-1)).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'noon' }] })
    })

    it('streams the Responses event sequence, numbered from 0', async () => {
      up.enqueue({ text: 'one two three' })
      const stream = await client.responses.create({ model: 'openai/m', input: 'count', stream: true })
      const events = []
      for await (const event of stream) events.push(event)
      const types = events.map((e) => e.type)
      expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'])
      expect(types.filter((t) => t === 'response.output_text.delta').length).toBe(3)
      expect(types.at(-1)).toBe('response.completed')
      expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i))
      const done = events.at(-1) as { response: { output: { content: { text: string }[] }[] } }
      expect(done.response.output[0]!.content[0]!.text).toBe('one two three')
    })

    it('refuses background, previous_response_id and agent models naming the field, calling nothing', async () => {
      for (const [extra, param] of [
        [{ background: true }, 'background'],
        [{ previous_response_id: 'resp_x' }, 'previous_response_id'],
        [{ model: 'main' }, 'model'],
      ] as const) {
        const err = await rejection(client.responses.create({ model: 'openai/m', input: 'x', ...extra }))
        expect(err).toBeInstanceOf(OpenAI.BadRequestError)
        expect(err.param).toBe(param)
      }
      expect(up.requests).toHaveLength(0)
    })

    it('maps an upstream 429 to RateLimitError with its Retry-After', async () => {
      up.enqueue({ error: { status: 429, retryAfter: 4 } })
      const err = await rejection(client.responses.create({ model: 'openai/m', input: 'x' }))
      expect(err).toBeInstanceOf(OpenAI.RateLimitError)
      expect(err.headers.get('retry-after')).toBe('4')
    })
  })
})
