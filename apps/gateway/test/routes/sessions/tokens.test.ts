import type { OpenVesperClient } from '@openvesper/client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SessionsFixture, startSessionsFixture } from './fixture.js'

/** Token accounting and the bounded per-turn context, through the generated client, in both modes. */
describe.each(MODES)('session tokens and context bounds (%s mode)', (mode) => {
  let f: SessionsFixture
  let c: OpenVesperClient
  let token: string
  let n = 0
  let key: string

  beforeAll(async () => {
    f = await startSessionsFixture(mode)
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    f.up.reset()
    f.up.setDefault({ echo: true })
    token = await f.t.tokenWith(['sessions:read', 'sessions:write', 'runs:read', 'runs:write'])
    c = f.client(token)
    key = `tokens-${n++}`
  })

  const run = async (message: string, agent?: string) => {
    const res = await c.POST('/agent', { body: { message, sessionKey: key, ...(agent ? { agent } : {}) } })
    expect(res.data?.status, JSON.stringify(res.error)).toBe('completed')
    return res.data!
  }
  const tokens = async () => (await c.GET('/sessions/{key}/tokens', { params: { path: { key } } })).data!

  it("sums the provider's usage over the session's runs and sizes the context against the model's window", async () => {
    f.up.enqueue({ text: 'first answer', usage: { inputTokens: 11, outputTokens: 7 } }, { text: 'second answer', usage: { inputTokens: 30, outputTokens: 5 } })
    await run('first question')
    await run('second question')
    const t = await tokens()
    expect(t).toMatchObject({ key, inputTokens: 41, outputTokens: 12, estimated: false, runs: 2, model: 'openai/test-model' })
    // Four short messages: each its tokens plus the framing; an unknown model gets the conservative window.
    expect(t.contextTokens).toBeGreaterThanOrEqual(4 * 5)
    expect(t.contextTokens).toBeLessThan(4 * 12)
    expect(t).toMatchObject({ contextWindow: 32_000, windowKnown: false })
    expect((await c.GET('/sessions/{key}/tokens', { params: { path: { key: 'no-such-session' } } })).response.status).toBe(404)
  })

  it('estimates with a tokenizer, marked as an estimate, when the provider reports no usage', async () => {
    f.up.enqueue({ text: 'an answer of several words', usage: { inputTokens: 0, outputTokens: 0 } })
    const ended = await run('a question')
    expect(ended.usage).toMatchObject({ estimated: true })
    expect(ended.usage!.inputTokens).toBeGreaterThan(0)
    expect(ended.usage!.outputTokens).toBeGreaterThanOrEqual(5)
    expect(await tokens()).toMatchObject({ estimated: true, runs: 1 })
  })

  it("bounds what a turn sends to the model's window, newest first, and says in an event how much was left out", async () => {
    const long = (i: number) => `${i} ${'lorem ipsum dolor sit amet '.repeat(30)}`
    for (let i = 0; i < 6; i++) await run(long(i), 'small')
    expect((await tokens()).contextWindow).toBe(1024)
    const last = await run('and now?', 'small')
    const sent = f.up.requests.at(-1)!.body.messages as { role: string; content: string }[]
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'and now?' })
    expect(sent.length).toBeLessThan(13)
    expect(sent.length).toBeGreaterThan(1)
    // What was kept is the newest part of the transcript, in order.
    expect(sent.slice(0, -1).map((m) => m.content)).toEqual(
      Array.from({ length: 6 }, (_, i) => [long(i), long(i)])
        .flat()
        .slice(-(sent.length - 1)),
    )
    const sse = await (await fetch(`${f.base}/agent/run/${last.runId}/events`, { headers: { authorization: `Bearer ${token}` } })).text()
    const truncated = /event: agent\.context_truncated\ndata: (.+)\n/.exec(sse)
    expect(truncated, sse.slice(0, 500)).not.toBeNull()
    expect(JSON.parse(truncated![1]!)).toMatchObject({ messages_omitted: 12 - (sent.length - 1), context_window: 1024 })
  })
})
