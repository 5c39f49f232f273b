import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../../support/helpers.js'

/** Agents `main` and `helper` on the fake upstream's default model (`openai/test-model`). */
function agentsFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ov-openai-')), 'openvesper.config.json')
  writeFileSync(path, JSON.stringify({ agents: [{ id: 'main' }, { id: 'helper', systemPrompt: 'You help.' }] }))
  return path
}

/** The official SDK, unchanged but for the base URL and key; no retries, so an error surfaces at once. */
const sdk = (base: string, apiKey: string) => new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0 })

/** What an SDK call rejects with. */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

describe.each(MODES)('the OpenAI-compatible surface through the official openai SDK (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  let client: OpenAI

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({ mode, env: upstreamEnv(up, { OPENVESPER_CONFIG: agentsFile(), OPENVESPER_UPSTREAM_MAX_RETRIES: '0' }) })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    client = sdk(base, t.adminToken)
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  const getRun = async (runId: string) => (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: bearer(t.adminToken) })).json()

  describe('models', () => {
    it('lists the agents, then the default model, in the OpenAI list shape', async () => {
      const page = await client.models.list()
      expect(page.data.map((m) => m.id)).toEqual(['main', 'helper', 'openai/test-model'])
      expect(page.data[0]).toMatchObject({ id: 'main', object: 'model', owned_by: 'openvesper', kind: 'agent' })
      expect(page.data[2]).toMatchObject({ id: 'openai/test-model', object: 'model', owned_by: 'openai', kind: 'model' })
      for (const m of page.data) expect(Number.isInteger(m.created)).toBe(true)
    })

    it('retrieves an agent and a provider model, whose slash openai-node percent-encodes', async () => {
      expect(await client.models.retrieve('helper')).toMatchObject({ id: 'helper', kind: 'agent', owned_by: 'openvesper' })
      expect(await client.models.retrieve('openai/test-model')).toMatchObject({ id: 'openai/test-model', kind: 'model', owned_by: 'openai' })
    })

    it('retrieves a provider model whose slash is sent unencoded', async () => {
      const res = await fetch(`${base}/v1/models/openai/test-model`, { headers: bearer(t.adminToken) })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ id: 'openai/test-model', kind: 'model' })
    })

    it('answers an unknown model with NotFoundError, code model_not_found', async () => {
      const err = await rejection(client.models.retrieve('no-such-model'))
      expect(err).toBeInstanceOf(OpenAI.NotFoundError)
      expect(err).toMatchObject({ status: 404, code: 'model_not_found', type: 'invalid_request_error', param: null })
    })
  })

  describe('chat completions', () => {
    it('runs the agent named by model and answers with a chat.completion carrying the usage', async () => {
      up.enqueue({ text: 'Hello from the agent.', usage: { inputTokens: 7, outputTokens: 4 } })
      const { data, response } = await client.chat.completions
        .create({
          model: 'main',
          messages: [
            { role: 'system', content: 'not the agent prompt' },
            { role: 'user', content: 'hi there' },
          ],
        })
        .withResponse()
      expect(data).toMatchObject({ object: 'chat.completion', model: 'main' })
      expect(data.choices).toHaveLength(1)
      expect(data.choices[0]).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hello from the agent.' } })
      expect(data.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 })
      // The completion is an ordinary run, visible on the native API.
      const runId = response.headers.get('x-run-id')!
      expect(runId).toMatch(/^run_/)
      expect(data.id).toBe(`chatcmpl-${runId}`)
      expect(await getRun(runId)).toMatchObject({ status: 'completed', agent: 'main', mode: 'sync', output: 'Hello from the agent.' })
      // The last user message is the run's message.
      expect(up.requests).toHaveLength(1)
      expect(up.requests[0]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'hi there' })
    })

    it('runs another agent with its own system prompt', async () => {
      up.enqueue({ text: 'Helped.' })
      const completion = await client.chat.completions.create({ model: 'helper', messages: [{ role: 'user', content: 'help' }] })
      expect(completion.choices[0]!.message.content).toBe('Helped.')
      expect(up.requests[0]!.body.messages[0]).toMatchObject({ role: 'system', content: 'You help.' })
    })

    it('streams chat.completion.chunks: the role first, the text deltas, finish_reason, then the usage chunk', async () => {
      up.enqueue({ text: 'one two three four', usage: { inputTokens: 5, outputTokens: 4 } })
      const stream = await client.chat.completions.create({
        model: 'main',
        messages: [{ role: 'user', content: 'count' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      const chunks = []
      for await (const chunk of stream) chunks.push(chunk)
      expect(chunks[0]!.choices[0]!.delta).toMatchObject({ role: 'assistant' })
      const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
      expect(text).toBe('one two three four')
      // More than one content delta: the text streamed as the upstream produced it.
      expect(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '').length).toBeGreaterThan(1)
      const finishes = chunks.filter((c) => c.choices[0]?.finish_reason)
      expect(finishes.map((c) => c.choices[0]!.finish_reason)).toEqual(['stop'])
      const last = chunks.at(-1)!
      expect(last.choices).toEqual([])
      expect(last.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 })
      for (const c of chunks) {
        expect(c).toMatchObject({ object: 'chat.completion.chunk', model: 'main', id: chunks[0]!.id })
        expect(c.id).toMatch(/^chatcmpl-run_/)
      }
      const run = await getRun(chunks[0]!.id.replace('chatcmpl-', ''))
      expect(run).toMatchObject({ status: 'completed', mode: 'stream', output: 'one two three four' })
    })

    it('ends the event stream with data: [DONE] and sends no usage chunk unless asked', async () => {
      up.enqueue({ text: 'short answer' })
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'main', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
      expect(res.headers.get('x-run-id')).toMatch(/^run_/)
      const body = await res.text()
      const data = body
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice('data: '.length))
      expect(data.at(-1)).toBe('[DONE]')
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d))
      expect(chunks.every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true)
      expect(chunks.at(-1).choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' })
    })

    it('runs in the session named by X-Session-Key, with its history', async () => {
      const key = `openai-${mode}-${Date.now()}`
      up.enqueue({ text: 'Nice to meet you, Ada.' }, { text: 'Your name is Ada.' })
      const headers = { 'X-Session-Key': key }
      await client.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'I am Ada.' }] }, { headers })
      const second = await client.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'Who am I?' }] }, { headers })
      expect(second.choices[0]!.message.content).toBe('Your name is Ada.')
      expect(up.requests[1]!.body.messages).toEqual(
        expect.arrayContaining([
          { role: 'user', content: 'I am Ada.' },
          expect.objectContaining({ role: 'assistant', content: 'Nice to meet you, Ada.' }),
          { role: 'user', content: 'Who am I?' },
        ]),
      )
      const session = await t.app.inject({ method: 'GET', url: `/sessions/${key}`, headers: bearer(t.adminToken) })
      expect(session.statusCode).toBe(200)
      expect(session.json()).toMatchObject({ key, agentId: 'main' })
    })

    it('answers a retry with the same Idempotency-Key with the same run, streamed or not', async () => {
      up.setDefault({ text: 'said once' })
      const messages = [{ role: 'user' as const, content: 'only once' }]
      const headers = { 'Idempotency-Key': `idem-${mode}-${Date.now()}` }
      const first = await client.chat.completions.create({ model: 'main', messages }, { headers })
      const again = await client.chat.completions.create({ model: 'main', messages }, { headers })
      expect(again.id).toBe(first.id)
      expect(again.choices[0]!.message.content).toBe('said once')
      expect(up.requests).toHaveLength(1)

      const streamHeaders = { 'Idempotency-Key': `idem-stream-${mode}-${Date.now()}` }
      const read = async () => {
        const chunks = []
        for await (const c of await client.chat.completions.create({ model: 'main', messages, stream: true }, { headers: streamHeaders })) chunks.push(c)
        return { id: chunks[0]!.id, text: chunks.map((c) => c.choices[0]?.delta.content ?? '').join('') }
      }
      const streamed = await read()
      expect(await read()).toEqual(streamed)
      expect(streamed.text).toBe('said once')
      expect(up.requests).toHaveLength(2)
    })

    it('reports a run that failed upstream as the SDK error of its status', async () => {
      up.enqueue({ error: { status: 500 } })
      const err = await rejection(client.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'fail' }] }))
      expect(err).toBeInstanceOf(OpenAI.InternalServerError)
      expect(err).toMatchObject({ type: 'server_error' })
      expect((err as InstanceType<typeof OpenAI.APIError>).code).toMatch(/^upstream_/)
    })

    it('ends a stream whose run fails with an error the SDK throws', async () => {
      up.enqueue({ error: { status: 500 } })
      const stream = await client.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'fail' }], stream: true })
      const err = await rejection(
        (async () => {
          for await (const _chunk of stream) {
            // the role chunk arrives before the run fails
          }
        })(),
      )
      expect(err).toBeInstanceOf(OpenAI.APIError)
      expect((err as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ type: 'server_error' })
    })
  })

  describe('errors in the OpenAI shape', () => {
    const hi = [{ role: 'user' as const, content: 'hi' }]

    it('refuses a model that is neither an agent nor a configured provider model with NotFoundError, code model_not_found, and runs nothing', async () => {
      for (const model of ['no-such-agent', 'unconfigured/test-model']) {
        const err = await rejection(client.chat.completions.create({ model, messages: hi }))
        expect(err, model).toBeInstanceOf(OpenAI.NotFoundError)
        expect(err, model).toMatchObject({ status: 404, code: 'model_not_found', type: 'invalid_request_error' })
      }
      expect(up.requests).toHaveLength(0)
    })

    it('refuses a bad key with AuthenticationError, code invalid_api_key', async () => {
      const err = await rejection(sdk(base, 'ovk_not_a_real_token').models.list())
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'authentication_error' })
    })

    it('refuses a token without runs:write with PermissionDeniedError', async () => {
      const reader = sdk(base, await t.tokenWith(['runs:read']))
      expect((await reader.models.list()).data.length).toBeGreaterThan(0)
      const err = await rejection(reader.chat.completions.create({ model: 'main', messages: hi }))
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
      expect(err).toMatchObject({ status: 403, type: 'permission_error' })
      // Listing models needs only a valid token (as OpenAI lists models to any key); running an agent does not.
      const other = sdk(base, await t.tokenWith(['sessions:read']))
      expect((await other.models.list()).data.length).toBeGreaterThan(0)
      expect(await rejection(other.chat.completions.create({ model: 'main', messages: hi }))).toBeInstanceOf(OpenAI.PermissionDeniedError)
    })

    it('refuses a body that fails validation with BadRequestError naming the param', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ temperature: 5 }, 'temperature'],
        [{ messages: [] }, 'messages'],
        [{ n: 2 }, 'n'],
        [{ tools: [{ type: 'function', function: { name: 'lookup' } }] }, 'tools'],
        [{ messages: [{ role: 'user', content: '' }] }, 'messages[0].content'],
        [{ messages: [{ role: 'system', content: 'only a system message' }] }, 'messages'],
      ]
      for (const [patch, param] of cases) {
        const err = await rejection(client.chat.completions.create({ model: 'main', messages: hi, ...patch } as never))
        expect(err, param).toBeInstanceOf(OpenAI.BadRequestError)
        expect(err, param).toMatchObject({ status: 400, type: 'invalid_request_error', param })
      }
      expect(up.requests).toHaveLength(0)
    })

    it('names the session key header when it breaks the key rule', async () => {
      const err = await rejection(client.chat.completions.create({ model: 'main', messages: hi }, { headers: { 'X-Session-Key': '..' } }))
      expect(err).toBeInstanceOf(OpenAI.BadRequestError)
      expect(err).toMatchObject({ param: 'X-Session-Key' })
    })

    it('answers unknown /v1 paths and malformed JSON in the OpenAI shape too', async () => {
      const unknown = await fetch(`${base}/v1/no-such-route`, { headers: bearer(t.adminToken) })
      expect(unknown.status).toBe(404)
      expect(await unknown.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'not_found' } })
      const anonymous = await fetch(`${base}/v1/no-such-route`)
      expect(anonymous.status).toBe(401)
      expect(await anonymous.json()).toMatchObject({ error: { type: 'authentication_error', code: 'invalid_api_key' } })
      const malformed = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
        body: '{"model":',
      })
      expect(malformed.status).toBe(400)
      expect(await malformed.json()).toMatchObject({ error: { type: 'invalid_request_error' } })
    })

    it('keeps problem details on the native API', async () => {
      const res = await fetch(`${base}/agent/run/run_doesnotexist1`, { headers: bearer(t.adminToken) })
      expect(res.status).toBe(404)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    })
  })
})

describe('the rate limit on /v1, through the openai SDK', () => {
  let t: TestApp
  let base: string

  beforeAll(async () => {
    t = await buildTestApp({ env: { OPENVESPER_RATE_LIMIT: '3', OPENVESPER_RATE_LIMIT_WINDOW_MS: '60000' } })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers over the limit with RateLimitError, code rate_limit_exceeded and Retry-After', async () => {
    const client = sdk(base, t.adminToken)
    for (let i = 0; i < 3; i++) await client.models.list()
    const err = await rejection(client.models.list())
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect(err).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'rate_limit_error' })
    const retryAfter = Number((err as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after'))
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true)
  })
})
