import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../../support/helpers.js'
import { readSse } from '../../support/sse-client.js'

describe.each(MODES)('runs (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  let auth: Record<string, string>

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({
      mode,
      env: upstreamEnv(up, {
        OPENAI_API_KEY: 'sk-test-canary-key',
        OPENVESPER_UPSTREAM_MAX_RETRIES: '2',
        OPENVESPER_UPSTREAM_RETRY_MAX_DELAY_MS: '2000',
      }),
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    auth = bearer(t.adminToken)
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, headers: { ...auth, ...headers }, payload: payload as object })

  it('runs synchronously and returns the full reply', async () => {
    up.enqueue({ text: 'Hello there, friend.' })
    const res = await post('/agent', { message: 'hi' })
    expect(res.statusCode).toBe(200)
    const run = res.json()
    expect(run).toMatchObject({ status: 'completed', output: 'Hello there, friend.', agent: 'main', mode: 'sync', model: 'openai/test-model' })
    expect(run.runId).toMatch(/^run_/)
    expect(run.usage.outputTokens).toBeGreaterThan(0)
    expect(up.requests[0]!.body.messages.at(-1)).toMatchObject({ role: 'user', content: 'hi' })
    // The API key goes to the upstream, never back to the client.
    expect(up.requests[0]!.headers.authorization).toBe('Bearer sk-test-canary-key')
    expect(res.body).not.toContain('sk-test-canary-key')
  })

  it('accepts an async run with 202 { runId, acceptedAt } and completes it through the queue', async () => {
    up.enqueue({ text: 'async answer' })
    const res = await post('/agent/async', { message: 'do it later' })
    expect(res.statusCode).toBe(202)
    const body = res.json()
    expect(Object.keys(body).sort()).toEqual(['acceptedAt', 'runId'])
    expect(new Date(body.acceptedAt).toISOString()).toBe(body.acceptedAt)
    const waited = await post(`/agent/run/${body.runId}/wait`, { timeoutMs: 20_000 })
    expect(waited.statusCode).toBe(200)
    expect(waited.json()).toMatchObject({ runId: body.runId, status: 'completed', output: 'async answer', mode: 'async' })
    const got = await t.app.inject({ method: 'GET', url: `/agent/run/${body.runId}`, headers: auth })
    expect(got.json().status).toBe('completed')
  })

  it('wait returns the run unfinished when the timeout passes first', async () => {
    up.enqueue({ hang: true })
    const { runId } = (await post('/agent/async', { message: 'slow' })).json()
    const waited = await post(`/agent/run/${runId}/wait`, { timeoutMs: 300 })
    expect(waited.statusCode).toBe(200)
    expect(['queued', 'running']).toContain(waited.json().status)
    const aborted = await post(`/agent/run/${runId}/abort`)
    expect(aborted.json().status).toBe('cancelled')
  })

  it('streams the run as SSE and resumes after Last-Event-ID without loss or duplicates', async () => {
    up.enqueue({ text: 'one two three four five six', chunkDelayMs: 20 })
    const first = await readSse(`${base}/agent/stream`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `stream-${mode}` },
      body: JSON.stringify({ message: 'count' }),
      stopAfter: (events) => events.filter((e) => e.event === 'agent.text_delta').length === 2,
    })
    expect(first.status).toBe(200)
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(first.headers.get('referrer-policy')).toBe('no-referrer')
    const runId = first.headers.get('x-run-id')!
    const lastId = first.events.at(-1)!.id!
    // The run goes on without the client; resume from the last event seen.
    const rest = await readSse(`${base}/agent/run/${runId}/events`, { headers: { ...auth, 'last-event-id': lastId } })
    const all = [...first.events, ...rest.events]
    const seqs = all.map((e) => Number(e.id))
    expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    expect(all.at(-1)!.event).toBe('run.completed')
    const text = all
      .filter((e) => e.event === 'agent.text_delta')
      .map((e) => e.data.text)
      .join('')
    expect(text).toBe('one two three four five six')
    expect(all.every((e) => e.data.runId === runId)).toBe(true)

    // Repeating the stream request with the same key and a cursor replays the same run.
    const again = await readSse(`${base}/agent/stream`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `stream-${mode}`, 'last-event-id': '3' },
      body: JSON.stringify({ message: 'count' }),
    })
    expect(again.headers.get('x-run-id')).toBe(runId)
    expect(again.events.map((e) => Number(e.id))).toEqual(seqs.slice(3))
    expect(up.requests).toHaveLength(1)
  })

  it('accepts ?token= on the SSE events route', async () => {
    up.enqueue({ text: 'tokened' })
    const run = (await post('/agent', { message: 'x' })).json()
    const res = await readSse(`${base}/agent/run/${run.runId}/events?token=${encodeURIComponent(t.adminToken)}`, {})
    expect(res.status).toBe(200)
    expect(res.events.at(-1)!.event).toBe('run.completed')
  })

  it('ends an open SSE stream soon after its token is revoked (A06)', async () => {
    up.enqueue({ hang: true })
    const { token, record } = await t.services.tokens.create({ name: 'sse', scopes: ['runs:read', 'runs:write'] })
    const { runId } = (await post('/agent/async', { message: 'forever' }, bearer(token))).json()
    const stream = readSse(`${base}/agent/run/${runId}/events`, { headers: bearer(token) })
    await waitFor(() => up.requests.length === 1, { what: 'run started' })
    await t.services.tokens.revoke(record.id)
    const started = Date.now()
    const { events } = await stream.catch(() => ({ events: [] as unknown[] }))
    expect(Date.now() - started).toBeLessThan(5000)
    expect(events.length).toBeLessThan(10)
    await post(`/agent/run/${runId}/abort`)
  })

  it('aborts a run mid-stream and stops the upstream request', async () => {
    up.enqueue({ text: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 25 })
    let runId = ''
    const streamed = readSse(`${base}/agent/stream`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'long' }),
      stopAfter: (events) => {
        runId ||= String(events[0]?.data.runId ?? '')
        return false
      },
    })
    await waitFor(() => runId && up.requests.length === 1, { what: 'stream started' })
    await waitFor(async () => (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: auth })).json().lastEventSeq >= 3)
    const aborted = await post(`/agent/run/${runId}/abort`)
    expect(aborted.statusCode).toBe(200)
    expect(aborted.json().status).toBe('cancelled')
    const { events } = await streamed
    expect(events.at(-1)!.event).toBe('run.cancelled')
    await waitFor(() => up.requests[0]!.aborted, { what: 'upstream request aborted' })
    const again = await post(`/agent/run/${runId}/abort`)
    expect(again.statusCode).toBe(200)
    const final = (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: auth })).json()
    expect(final.status).toBe('cancelled')
    expect(events.filter((e) => e.event === 'agent.text_delta').length).toBeLessThan(200)
  })

  it('refuses to abort a finished run with 409', async () => {
    const run = (await post('/agent', { message: 'quick' })).json()
    const res = await post(`/agent/run/${run.runId}/abort`)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ code: 'run_not_cancellable', status: 409 })
  })

  it('creates exactly one run for 50 concurrent requests with one Idempotency-Key', async () => {
    up.setDefault({ text: 'once', delayMs: 50 })
    const key = `idem-${mode}-${Date.now()}`
    const responses = await Promise.all(Array.from({ length: 50 }, () => post('/agent/async', { message: 'same' }, { 'idempotency-key': key })))
    expect(responses.every((r) => r.statusCode === 202)).toBe(true)
    const ids = new Set(responses.map((r) => r.json().runId))
    expect(ids.size).toBe(1)
    const [runId] = [...ids]
    await post(`/agent/run/${runId}/wait`, { timeoutMs: 20_000 })
    const later = await post('/agent/async', { message: 'same' }, { 'idempotency-key': key })
    expect(later.json().runId).toBe(runId)
    expect(up.requests).toHaveLength(1)
    const different = await post('/agent/async', { message: 'other' }, { 'idempotency-key': key })
    expect(different.statusCode).toBe(409)
    expect(different.json().code).toBe('idempotency_conflict')
    const otherSession = await post('/agent/async', { message: 'same', sessionKey: 'elsewhere' }, { 'idempotency-key': key })
    expect(otherSession.statusCode).toBe(409)
    expect(otherSession.json().code).toBe('idempotency_conflict')
  })

  it('runs a tool call through the scripted upstream and feeds the result back', async () => {
    up.enqueue({ toolCalls: [{ id: 'call_1', name: 'current_time', arguments: { timezone: 'UTC' } }] }, { text: 'It is now.' })
    const res = await post('/agent', { message: 'what time is it?' })
    expect(res.json()).toMatchObject({ status: 'completed', output: 'It is now.' })
    expect(up.requests).toHaveLength(2)
    const second = up.requests[1]!.body
    expect(second.tools.map((x: { function: { name: string } }) => x.function.name)).toEqual(['current_time'])
    const toolMsg = second.messages.find((m: { role: string }) => m.role === 'tool')
    expect(toolMsg.tool_call_id).toBe('call_1')
    expect(JSON.parse(toolMsg.content).utc).toMatch(/^\d{4}-\d\d-\d\dT/)
    const events = await readSse(`${base}/agent/run/${res.json().runId}/events`, { headers: auth })
    const types = events.events.map((e) => e.event)
    expect(types).toEqual(expect.arrayContaining(['agent.tool_request', 'agent.tool_result', 'agent.turn_complete', 'run.completed']))
    expect(types.indexOf('agent.tool_request')).toBeLessThan(types.indexOf('agent.tool_result'))
  })

  it('refuses a tool the agent may not call and tells the model so', async () => {
    up.enqueue({ toolCalls: [{ id: 'c9', name: 'shell_exec', arguments: { cmd: 'cat /etc/passwd' } }] }, { text: 'fine' })
    const res = await post('/agent', { message: 'x' })
    expect(res.json().status).toBe('completed')
    const toolMsg = up.requests[1]!.body.messages.find((m: { role: string }) => m.role === 'tool')
    expect(toolMsg.content).toMatch(/not available/)
  })

  it('fails a run that exceeds the step limit with step_limit_exceeded', async () => {
    up.setDefault({ toolCalls: [{ name: 'current_time', arguments: {} }] })
    const res = await post('/agent', { message: 'loop forever' })
    expect(res.json()).toMatchObject({ status: 'failed', failureReason: 'step_limit_exceeded' })
    expect(up.requests).toHaveLength(8)
  })

  it('retries a 429 after Retry-After and then succeeds', async () => {
    up.enqueue({ error: { status: 429, retryAfter: 1 } }, { text: 'after the wait' })
    const res = await post('/agent', { message: 'busy?' })
    expect(res.json()).toMatchObject({ status: 'completed', output: 'after the wait' })
    expect(up.requests).toHaveLength(2)
    expect(up.requests[1]!.receivedAt - up.requests[0]!.receivedAt).toBeGreaterThanOrEqual(900)
  })

  it('fails with upstream_unavailable after bounded retries of a 500', async () => {
    up.setDefault({ error: { status: 500 } })
    const res = await post('/agent', { message: 'broken' })
    expect(res.json()).toMatchObject({ status: 'failed', failureReason: 'upstream_unavailable' })
    expect(up.requests).toHaveLength(3)
    expect(res.body).not.toContain('sk-test-canary-key')
  })

  it('fails with upstream_auth when the provider refuses the key, echoing it, and shows the key nowhere (A26)', async () => {
    const key = 'sk-test-canary-key'
    up.enqueue({
      error: {
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${key}. Check ${Buffer.from(key).toString('base64')}`, code: 'invalid_api_key' } },
      },
    })
    const res = await post('/agent/stream', { message: 'who am I' })
    const runId = String(res.headers['x-run-id'])
    expect(res.body).toContain('event: run.failed')
    const run = (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: auth })).json()
    expect(run).toMatchObject({ status: 'failed', failureReason: 'upstream_auth' })
    expect(run.error).toMatch(/HTTP 401: Incorrect API key provided: \[redacted\]\. Check \[redacted\]/)
    // The suite's leak watch also scans the log lines, the stored events served here and Redis when the app closes.
    for (const body of [res.body, JSON.stringify(run)]) {
      expect(body).not.toContain(key)
      expect(body).not.toContain(Buffer.from(key).toString('base64'))
    }
  })

  it('stores model output with NUL and unpaired surrogates as U+FFFD instead of failing (A40)', async () => {
    up.enqueue({ text: 'odd \u0000 bytes \ud800 here' })
    const run = (await post('/agent', { message: 'odd output please', sessionKey: `odd-${mode}` })).json()
    expect(run).toMatchObject({ status: 'completed', output: 'odd \ufffd bytes \ufffd here' })
    const stored = (await t.app.inject({ method: 'GET', url: `/agent/run/${run.runId}`, headers: auth })).json()
    expect(stored.output).toBe('odd \ufffd bytes \ufffd here')
  })

  it('keeps partial output of a stream cut mid-message and marks the failure', async () => {
    up.enqueue({ text: 'partial words that never finish', cutAfterChunks: 2 })
    const run = (await post('/agent', { message: 'cut' })).json()
    expect(run).toMatchObject({ status: 'failed', failureReason: 'upstream_stream_interrupted' })
    expect(run.output.length).toBeGreaterThan(0)
    expect('partial words that never finish'.startsWith(run.output)).toBe(true)
  })

  it('keeps a session transcript and allows one active run per session (queue mode reject answers 409 while busy)', async () => {
    up.enqueue({ text: 'first reply' })
    await post('/agent', { message: 'first', sessionKey: `s-${mode}` })
    up.enqueue({ text: 'second reply' })
    await post('/agent', { message: 'second', sessionKey: `s-${mode}` })
    const sent = up.requests[1]!.body.messages.map((m: { role: string; content: string }) => [m.role, m.content])
    expect(sent).toEqual([
      ['user', 'first'],
      ['assistant', 'first reply'],
      ['user', 'second'],
    ])
    up.enqueue({ hang: true })
    const busy1 = (await post('/agent/async', { message: 'third', sessionKey: `s-${mode}` })).json()
    const busy2 = await post('/agent/async', { message: 'fourth', sessionKey: `s-${mode}`, queueMode: 'reject' })
    expect(busy2.statusCode).toBe(409)
    expect(busy2.json()).toMatchObject({ code: 'session_busy', activeRunId: busy1.runId })
    await post(`/agent/run/${busy1.runId}/abort`)
  })

  it("returns 404 for another principal's run and for unknown runs; 400 for malformed ids", async () => {
    const run = (await post('/agent', { message: 'mine' })).json()
    const other = await t.tokenWith(['runs:read', 'runs:write'])
    for (const [method, url] of [
      ['GET', `/agent/run/${run.runId}`],
      ['POST', `/agent/run/${run.runId}/wait`],
      ['POST', `/agent/run/${run.runId}/abort`],
      ['GET', `/agent/run/${run.runId}/events`],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: bearer(other) })
      expect(res.statusCode, `${method} ${url}`).toBe(404)
    }
    expect((await t.app.inject({ method: 'GET', url: '/agent/run/run_doesnotexist0', headers: auth })).statusCode).toBe(404)
    for (const bad of ['..%2Fx', 'x'.repeat(10_000), 'run_UPPER']) {
      const res = await t.app.inject({ method: 'GET', url: `/agent/run/${bad}`, headers: auth })
      expect(res.statusCode, bad.slice(0, 20)).toBe(400)
    }
  })

  it('rejects bad input with a problem document and writes nothing', async () => {
    for (const payload of [{}, { message: '' }, { message: 'x', extra: 1 }, { message: 'x', agent: 'nope' }, { message: 'x', sessionKey: 'a\u0007b' }]) {
      const res = await post('/agent/async', payload)
      expect(res.statusCode, JSON.stringify(payload)).toBe(400)
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/)
      expect(res.json().code).toBe('invalid_request')
    }
    expect(up.requests).toHaveLength(0)
  })
})
