import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../../support/helpers.js'
import { rejection, sseEvents } from './support.js'

/** Agents `main` and `helper` on the fake upstream's default model (`openai/test-model`). */
function agentsFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ov-anthropic-')), 'openvesper.config.json')
  writeFileSync(path, JSON.stringify({ agents: [{ id: 'main' }, { id: 'helper', systemPrompt: 'You help.' }] }))
  return path
}

describe.each(MODES)('agent models on the Anthropic-compatible surface, through the official @anthropic-ai/sdk (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  /** `apiKey` → the SDK sends `x-api-key`. */
  let client: Anthropic

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({ mode, env: upstreamEnv(up, { OPENVESPER_CONFIG: agentsFile(), OPENVESPER_UPSTREAM_MAX_RETRIES: '0' }) })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = new Anthropic({ apiKey: t.adminToken, baseURL: `${base}/anthropic`, maxRetries: 0 })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  const getRun = async (runId: string) => (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: bearer(t.adminToken) })).json()
  const hi = [{ role: 'user' as const, content: 'hi there' }]

  it('runs the agent named by model and answers with a message carrying the usage; the run is an ordinary run', async () => {
    up.enqueue({ text: 'Hello from the agent.', usage: { inputTokens: 7, outputTokens: 4 } })
    const { data, response } = await client.messages.create({ model: 'main', max_tokens: 100, system: 'not the agent prompt', messages: hi }).withResponse()
    expect(data).toEqual({
      id: expect.stringMatching(/^msg_run_/),
      type: 'message',
      role: 'assistant',
      model: 'main',
      content: [{ type: 'text', text: 'Hello from the agent.' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      stop_details: null,
      usage: { input_tokens: 7, output_tokens: 4 },
    })
    const runId = response.headers.get('x-run-id')!
    expect(data.id).toBe(`msg_${runId}`)
    expect(response.headers.get('request-id')).toBeTruthy()
    expect(await getRun(runId)).toMatchObject({ status: 'completed', agent: 'main', mode: 'sync', output: 'Hello from the agent.' })
    expect(up.requests).toHaveLength(1)
    expect(up.requests[0]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'hi there' })
  })

  it('accepts Authorization: Bearer (authToken) as well as x-api-key, and any anthropic-version', async () => {
    up.setDefault({ text: 'ok' })
    const viaBearer = new Anthropic({ authToken: t.adminToken, apiKey: null, baseURL: `${base}/anthropic`, maxRetries: 0 })
    const message = await viaBearer.messages.create({ model: 'helper', max_tokens: 10, messages: hi }, { headers: { 'anthropic-version': '2099-01-01' } })
    expect(message.content).toEqual([{ type: 'text', text: 'ok' }])
    expect(up.requests[0]!.body.messages[0]).toMatchObject({ role: 'system', content: 'You help.' })
    // No anthropic-version at all (curl): accepted too.
    const res = await fetch(`${base}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': t.adminToken, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'main', max_tokens: 10, messages: hi }),
    })
    expect(res.status).toBe(200)
  })

  it("streams Anthropic's exact event sequence; the SDK's finalMessage() equals the run's answer", async () => {
    up.enqueue({ text: 'one two three four', usage: { inputTokens: 5, outputTokens: 4 } })
    const stream = client.messages.stream({ model: 'main', max_tokens: 100, messages: hi })
    const texts: string[] = []
    stream.on('text', (text) => texts.push(text))
    const final = await stream.finalMessage()
    expect(texts.join('')).toBe('one two three four')
    expect(texts.length).toBeGreaterThan(1)
    expect(final).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'main',
      content: [{ type: 'text', text: 'one two three four' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 5, output_tokens: 4 },
    })
    const runId = final.id.replace(/^msg_/, '')
    expect(await getRun(runId)).toMatchObject({ status: 'completed', mode: 'stream', output: 'one two three four' })

    up.enqueue({ text: 'a b' })
    const res = await fetch(`${base}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': t.adminToken, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'main', max_tokens: 10, messages: hi, stream: true }),
    })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(res.headers.get('x-run-id')).toMatch(/^run_/)
    const events = sseEvents(await res.text())
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    for (const e of events) expect(e.data.type).toBe(e.event)
    expect(events[0]!.data.message).toMatchObject({ id: `msg_${res.headers.get('x-run-id')}`, content: [], stop_reason: null })
    expect(events[2]!.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
    expect(events[3]!.data).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'a ' } })
    expect(events[6]!.data).toMatchObject({ delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: expect.any(Number) } })
  })

  it('runs in the session named by X-Session-Key, with its history', async () => {
    const key = `anthropic-${mode}-${Date.now()}`
    up.enqueue({ text: 'Nice to meet you, Ada.' }, { text: 'Your name is Ada.' })
    const headers = { 'X-Session-Key': key }
    await client.messages.create({ model: 'main', max_tokens: 50, messages: [{ role: 'user', content: 'I am Ada.' }] }, { headers })
    const second = await client.messages.create({ model: 'main', max_tokens: 50, messages: [{ role: 'user', content: 'Who am I?' }] }, { headers })
    expect(second.content).toEqual([{ type: 'text', text: 'Your name is Ada.' }])
    expect(up.requests[1]!.body.messages).toEqual(
      expect.arrayContaining([
        { role: 'user', content: 'I am Ada.' },
        expect.objectContaining({ role: 'assistant', content: 'Nice to meet you, Ada.' }),
        { role: 'user', content: 'Who am I?' },
      ]),
    )
    const session = await t.app.inject({ method: 'GET', url: `/sessions/${key}`, headers: bearer(t.adminToken) })
    expect(session.json()).toMatchObject({ key, agentId: 'main' })
  })

  it('reports a run that failed upstream as the SDK error of its status, streamed or not', async () => {
    // An upstream 500 is an unavailable upstream: 503 overloaded_error, which Anthropic clients retry.
    up.enqueue({ error: { status: 500 } })
    const err = await rejection(client.messages.create({ model: 'main', max_tokens: 10, messages: hi }))
    expect(err).toBeInstanceOf(Anthropic.InternalServerError)
    expect(err).toMatchObject({ status: 503 })
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } })
    up.enqueue({ error: { status: 400 } })
    const streamErr = await rejection(client.messages.stream({ model: 'main', max_tokens: 10, messages: hi }).finalMessage())
    // The stream had opened (200): the failure arrives as `event: error`, which the SDK throws.
    expect(streamErr).toBeInstanceOf(Anthropic.APIError)
    expect((streamErr as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
  })

  describe('models and count_tokens', () => {
    it("lists agents then the default model in Anthropic's list shape, paged by the SDK's auto-pagination", async () => {
      const first = await client.models.list({ limit: 2 })
      expect(first.data.map((m) => m.id)).toEqual(['main', 'helper'])
      expect(first.data[0]).toEqual({ type: 'model', id: 'main', display_name: 'main (agent)', created_at: '1970-01-01T00:00:00.000Z' })
      expect(first.has_more).toBe(true)
      const ids: string[] = []
      for await (const model of client.models.list({ limit: 1 })) ids.push(model.id)
      expect(ids).toEqual(['main', 'helper', 'openai/test-model'])
      const back = await client.models.list({ before_id: 'openai/test-model', limit: 1 })
      expect(back.data.map((m) => m.id)).toEqual(['helper'])
    })

    it('retrieves an agent and a provider model (slash percent-encoded or not); an unknown id is NotFoundError', async () => {
      expect(await client.models.retrieve('helper')).toMatchObject({ type: 'model', id: 'helper' })
      expect(await client.models.retrieve('openai/test-model')).toMatchObject({ type: 'model', id: 'openai/test-model' })
      const raw = await fetch(`${base}/anthropic/v1/models/openai/test-model`, { headers: { 'x-api-key': t.adminToken } })
      expect(await raw.json()).toMatchObject({ id: 'openai/test-model' })
      const err = await rejection(client.models.retrieve('no-such-model'))
      expect(err).toBeInstanceOf(Anthropic.NotFoundError)
    })

    it('counts input tokens in the gateway without calling the upstream', async () => {
      const small = await client.messages.countTokens({ model: 'main', messages: [{ role: 'user', content: 'Hello world' }] })
      // o200k_base: "Hello world" is 2 tokens, plus 3 for the message and 3 for the answer's priming.
      expect(small).toEqual({ input_tokens: 8 })
      const large = await client.messages.countTokens({
        model: 'openai/test-model',
        system: 'You are a weather assistant. Answer in one sentence.',
        messages: [{ role: 'user', content: 'Hello world' }],
        tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      })
      expect(large.input_tokens).toBeGreaterThan(small.input_tokens + 20)
      const unknown = await rejection(client.messages.countTokens({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }))
      expect(unknown).toBeInstanceOf(Anthropic.NotFoundError)
      const bad = await rejection(client.messages.countTokens({ model: 'main', messages: [] }))
      expect(bad).toBeInstanceOf(Anthropic.BadRequestError)
      expect(up.requests).toHaveLength(0)
    })
  })

  describe("errors in Anthropic's shape", () => {
    it('refuses a bad key with AuthenticationError, in x-api-key and in Authorization', async () => {
      for (const bad of [
        new Anthropic({ apiKey: 'ovk_not_a_real_token', baseURL: `${base}/anthropic`, maxRetries: 0 }),
        new Anthropic({ authToken: 'ovk_not_a_real_token', apiKey: null, baseURL: `${base}/anthropic`, maxRetries: 0 }),
      ]) {
        const err = await rejection(bad.messages.create({ model: 'main', max_tokens: 10, messages: hi }))
        expect(err).toBeInstanceOf(Anthropic.AuthenticationError)
        expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
      }
      // Both credentials at once is refused, even when one is valid.
      const both = await fetch(`${base}/anthropic/v1/models`, { headers: { ...bearer(t.adminToken), 'x-api-key': t.adminToken } })
      expect(both.status).toBe(401)
      // x-api-key is an Anthropic-surface credential only.
      const native = await fetch(`${base}/agent/run/run_doesnotexist1`, { headers: { 'x-api-key': t.adminToken } })
      expect(native.status).toBe(401)
      expect(up.requests).toHaveLength(0)
    })

    it('refuses a token without runs:write with PermissionDeniedError', async () => {
      const reader = new Anthropic({ apiKey: await t.tokenWith(['runs:read']), baseURL: `${base}/anthropic`, maxRetries: 0 })
      expect((await reader.models.list()).data.length).toBeGreaterThan(0)
      const err = await rejection(reader.messages.create({ model: 'main', max_tokens: 10, messages: hi }))
      expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError)
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'permission_error' } })
    })

    it('refuses an unknown model with NotFoundError and bad bodies with BadRequestError naming the field; nothing runs', async () => {
      const notFound = await rejection(client.messages.create({ model: 'no-such-agent', max_tokens: 10, messages: hi }))
      expect(notFound).toBeInstanceOf(Anthropic.NotFoundError)
      expect((notFound as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'not_found_error' } })
      const cases: [Record<string, unknown>, string][] = [
        [{ max_tokens: undefined }, 'max_tokens'],
        [{ max_tokens: 0 }, 'max_tokens'],
        [{ messages: [] }, 'messages'],
        [{ temperature: 2 }, 'temperature'],
        [{ tools: [{ name: 'lookup', input_schema: { type: 'object' } }] }, 'tools'],
        [{ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x.test/a.png' } }] }] }, 'messages[0].content[0]'],
        [{ messages: [{ role: 'user', content: '' }] }, 'messages.0.content'],
        [{ messages: [...hi, { role: 'assistant', content: 'prefill' }] }, 'messages.1'],
      ]
      for (const [patch, field] of cases) {
        const err = await rejection(client.messages.create({ model: 'main', max_tokens: 10, messages: hi, ...patch } as never))
        expect(err, field).toBeInstanceOf(Anthropic.BadRequestError)
        const body = (err as InstanceType<typeof Anthropic.APIError>).error as { type: string; error: { type: string; message: string } }
        expect(body.type, field).toBe('error')
        expect(body.error.type, field).toBe('invalid_request_error')
        expect(body.error.message.startsWith(`${field}:`), `${field} → ${body.error.message}`).toBe(true)
      }
      expect(up.requests).toHaveLength(0)
    })

    it('answers unknown paths, anonymous calls and malformed JSON under /anthropic/v1 in the Anthropic shape', async () => {
      const unknown = await fetch(`${base}/anthropic/v1/no-such-route`, { headers: { 'x-api-key': t.adminToken } })
      expect(unknown.status).toBe(404)
      expect(await unknown.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.any(String) }, request_id: expect.any(String) })
      const anonymous = await fetch(`${base}/anthropic/v1/messages`, { method: 'POST' })
      expect(anonymous.status).toBe(401)
      expect(await anonymous.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } })
      const malformed = await fetch(`${base}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': t.adminToken, 'content-type': 'application/json' },
        body: '{"model":',
      })
      expect(malformed.status).toBe(400)
      expect(await malformed.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    })
  })
})

describe('the rate limit on /anthropic/v1, through the SDK', () => {
  let t: TestApp
  let base: string
  beforeAll(async () => {
    t = await buildTestApp({ env: { OPENVESPER_RATE_LIMIT: '3', OPENVESPER_RATE_LIMIT_WINDOW_MS: '60000' } })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers over the limit with RateLimitError, rate_limit_error and Retry-After', async () => {
    const client = new Anthropic({ apiKey: t.adminToken, baseURL: `${base}/anthropic`, maxRetries: 0 })
    for (let i = 0; i < 3; i++) await client.models.list()
    const err = await rejection(client.models.list())
    expect(err).toBeInstanceOf(Anthropic.RateLimitError)
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } })
    const retryAfter = Number((err as InstanceType<typeof Anthropic.APIError>).headers?.get('retry-after'))
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true)
  })
})
