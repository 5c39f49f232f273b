import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { sentMessages, type SessionsFixture, startSessionsFixture, WRITER_PROMPT } from './fixture.js'

const path = (key: string) => ({ params: { path: { key } } })

/** The session routes' main flow through the generated client, in both modes. */
describe.each(MODES)('sessions (%s mode)', (mode) => {
  let f: SessionsFixture
  let c: OpenVesperClient

  beforeAll(async () => {
    f = await startSessionsFixture(mode)
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    f.up.reset()
    f.up.setDefault({ echo: true })
    // A fresh principal per test: its session list holds only what the test made.
    c = await f.principal()
  })

  const run = async (client: OpenVesperClient, sessionKey: string, message: string, agent?: string) => {
    const res = await client.POST('/agent', { body: { message, sessionKey, ...(agent ? { agent } : {}) } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(200)
    expect(res.data?.status).toBe('completed')
    return res.data!
  }

  it('lists sessions latest activity first with counts, pages with a cursor and filters by agent and activity', async () => {
    await run(c, 'alpha', 'a1')
    await run(c, 'beta', 'b1', 'writer')
    await run(c, 'gamma', 'g1')
    const between = new Date()
    await run(c, 'alpha', 'a2')

    const all = await c.GET('/sessions')
    expect(all.response.status).toBe(200)
    expect(all.data!.items.map((s) => s.key)).toEqual(['alpha', 'gamma', 'beta'])
    expect(all.data!.items[0]).toMatchObject({ key: 'alpha', agentId: 'main', messageCount: 4, activeRunId: null, epoch: 0, resetAt: null })
    expect(Date.parse(all.data!.items[0]!.lastActivityAt)).toBeGreaterThanOrEqual(Date.parse(all.data!.items[0]!.createdAt))
    expect(all.data!.nextCursor).toBeNull()

    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await c.GET('/sessions', { params: { query: { limit: 1, cursor } } })
      expect(page.data!.items).toHaveLength(1)
      seen.push(page.data!.items[0]!.key)
      cursor = page.data!.nextCursor ?? undefined
    } while (cursor)
    expect(seen).toEqual(['alpha', 'gamma', 'beta'])

    expect((await c.GET('/sessions', { params: { query: { agentId: 'writer' } } })).data!.items.map((s) => s.key)).toEqual(['beta'])
    const since = await c.GET('/sessions', { params: { query: { activeSince: between.toISOString() } } })
    expect(since.data!.items.map((s) => s.key)).toEqual(['alpha'])
    const before = await c.GET('/sessions', { params: { query: { activeBefore: between.toISOString() } } })
    expect(before.data!.items.map((s) => s.key)).toEqual(['gamma', 'beta'])
  })

  it('shows a session with its settings and newest transcript page; messages page both ways', async () => {
    for (let i = 1; i <= 3; i++) await run(c, 'talk', `m${i}`)
    const got = await c.GET('/sessions/{key}', { params: { path: { key: 'talk' }, query: { limit: 4 } } })
    expect(got.response.status).toBe(200)
    expect(got.data).toMatchObject({ key: 'talk', agentId: 'main', messageCount: 6, settings: { agentId: 'main' } })
    expect(got.data!.messages.items.map((m) => `${m.role}:${m.content.text}`)).toEqual(['assistant:m3', 'user:m3', 'assistant:m2', 'user:m2'])
    const rest = await c.GET('/sessions/{key}/messages', {
      params: { path: { key: 'talk' }, query: { order: 'desc', cursor: got.data!.messages.nextCursor! } },
    })
    expect(rest.data!.items.map((m) => m.content.text)).toEqual(['m1', 'm1'])
    expect(rest.data!.nextCursor).toBeNull()

    const asc: string[] = []
    let cursor: string | undefined
    do {
      const page = await c.GET('/sessions/{key}/messages', { params: { path: { key: 'talk' }, query: { limit: 4, cursor } } })
      asc.push(...page.data!.items.map((m) => `${m.role}:${m.content.text}`))
      cursor = page.data!.nextCursor ?? undefined
    } while (cursor)
    expect(asc).toEqual(['user:m1', 'assistant:m1', 'user:m2', 'assistant:m2', 'user:m3', 'assistant:m3'])
    const first = (await c.GET('/sessions/{key}/messages', path('talk'))).data!.items[0]!
    expect(first).toMatchObject({ role: 'user', epoch: 0, beforeReset: false })
    expect(first.id).toMatch(/^msg_/)
    expect(first.runId).toMatch(/^run_/)
  })

  it('reset hides the earlier messages from the model but keeps them readable, marked as before the reset', async () => {
    await run(c, 'forget', 'my secret is 42')
    await run(c, 'forget', 'remember it')
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([
      ['user', 'my secret is 42'],
      ['assistant', 'my secret is 42'],
      ['user', 'remember it'],
    ])
    const reset = await c.POST('/sessions/{key}/reset', path('forget'))
    expect(reset.response.status).toBe(200)
    expect(reset.data).toMatchObject({ key: 'forget', epoch: 1, messageCount: 4, agentId: 'main' })
    expect(reset.data!.resetAt).not.toBeNull()

    // Synchronous and queued runs alike send only what came after the reset.
    await run(c, 'forget', 'what was my secret?')
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([['user', 'what was my secret?']])
    const accepted = await c.POST('/agent/async', { body: { message: 'and now?', sessionKey: 'forget' } })
    const waited = await c.POST('/agent/run/{runId}/wait', { params: { path: { runId: accepted.data!.runId } }, body: { timeoutMs: 20_000 } })
    expect(waited.data?.status).toBe('completed')
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([
      ['user', 'what was my secret?'],
      ['assistant', 'what was my secret?'],
      ['user', 'and now?'],
    ])

    const transcript = (await c.GET('/sessions/{key}/messages', path('forget'))).data!.items
    expect(transcript.map((m) => [m.content.text, m.epoch, m.beforeReset])).toEqual([
      ['my secret is 42', 0, true],
      ['my secret is 42', 0, true],
      ['remember it', 0, true],
      ['remember it', 0, true],
      ['what was my secret?', 1, false],
      ['what was my secret?', 1, false],
      ['and now?', 1, false],
      ['and now?', 1, false],
    ])
  })

  it('switching the agent makes later runs in the session use it', async () => {
    await run(c, 'switch', 'before')
    expect(f.up.requests.at(-1)!.body.messages[0]).toEqual({ role: 'user', content: 'before' })
    const switched = await c.POST('/sessions/{key}/agent', { ...path('switch'), body: { agentId: 'writer' } })
    expect(switched.response.status).toBe(200)
    expect(switched.data).toMatchObject({ key: 'switch', agentId: 'writer' })
    const after = await run(c, 'switch', 'after')
    expect(after.agent).toBe('writer')
    expect(f.up.requests.at(-1)!.body.messages[0]).toEqual({ role: 'system', content: WRITER_PROMPT })
    // A run naming its agent still gets it, and the session keeps its own.
    expect((await run(c, 'switch', 'explicit', 'main')).agent).toBe('main')
    expect((await c.GET('/sessions/{key}', path('switch'))).data!.settings).toEqual({ agentId: 'writer' })
  })

  it('fork copies the whole session; writing to the fork leaves the original untouched', async () => {
    await run(c, 'orig', 'one')
    await c.POST('/sessions/{key}/agent', { ...path('orig'), body: { agentId: 'writer' } })
    const forked = await c.POST('/sessions/{key}/fork', { ...path('orig'), body: { key: 'copy' } })
    expect(forked.response.status).toBe(201)
    expect(forked.data).toMatchObject({ key: 'copy', agentId: 'writer', messageCount: 2, epoch: 0 })

    await run(c, 'copy', 'two')
    // The fork's run saw the copied transcript.
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([
      ['system', WRITER_PROMPT],
      ['user', 'one'],
      ['assistant', 'one'],
      ['user', 'two'],
    ])
    const original = (await c.GET('/sessions/{key}/messages', path('orig'))).data!.items
    const copy = (await c.GET('/sessions/{key}/messages', path('copy'))).data!.items
    expect(original.map((m) => m.content.text)).toEqual(['one', 'one'])
    expect(copy.map((m) => m.content.text)).toEqual(['one', 'one', 'two', 'two'])
    // Copies are new messages with the originals' runs and times.
    expect(copy[0]!.id).not.toBe(original[0]!.id)
    expect([copy[0]!.runId, copy[0]!.createdAt]).toEqual([original[0]!.runId, original[0]!.createdAt])

    await c.POST('/sessions/{key}/reset', path('copy'))
    expect((await c.GET('/sessions/{key}', path('orig'))).data).toMatchObject({ epoch: 0, messageCount: 2 })
  })

  it('branch starts a new session from a message of the original, up to and including it', async () => {
    await run(c, 'tree', 'q1')
    await run(c, 'tree', 'q2')
    const messages = (await c.GET('/sessions/{key}/messages', path('tree'))).data!.items
    const firstReply = messages[1]!
    expect(firstReply).toMatchObject({ role: 'assistant', content: { text: 'q1' } })
    const branched = await c.POST('/sessions/{key}/branch', { ...path('tree'), body: { key: 'twig', messageId: firstReply.id } })
    expect(branched.response.status).toBe(201)
    expect(branched.data).toMatchObject({ key: 'twig', messageCount: 2 })

    await run(c, 'twig', 'q2 instead')
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([
      ['user', 'q1'],
      ['assistant', 'q1'],
      ['user', 'q2 instead'],
    ])
    expect((await c.GET('/sessions/{key}/messages', path('tree'))).data!.items.map((m) => m.content.text)).toEqual(['q1', 'q1', 'q2', 'q2'])
  })

  it('delete refuses while a run is active, then drops the session and its transcript', async () => {
    await run(c, 'doomed', 'hello')
    f.up.enqueue({ hang: true })
    const before = f.up.requests.length
    const busy = await c.POST('/agent/async', { body: { message: 'hang', sessionKey: 'doomed' } })
    await waitFor(() => f.up.requests.length > before, { what: 'the run to reach the upstream' })
    const listed = (await c.GET('/sessions')).data!.items.find((s) => s.key === 'doomed')
    expect(listed?.activeRunId).toBe(busy.data!.runId)

    const refused = await c.DELETE('/sessions/{key}', path('doomed'))
    expect(refused.response.status).toBe(409)
    expect(refused.error).toMatchObject({ code: 'session_busy', status: 409 })
    const refusedReset = await c.POST('/sessions/{key}/reset', path('doomed'))
    expect(refusedReset.response.status).toBe(409)
    expect((await c.GET('/sessions/{key}', path('doomed'))).data).toMatchObject({ epoch: 0, messageCount: 3 })

    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: busy.data!.runId } } })
    const deleted = await c.DELETE('/sessions/{key}', path('doomed'))
    expect(deleted.response.status).toBe(204)
    expect((await c.GET('/sessions/{key}', path('doomed'))).response.status).toBe(404)
    expect((await c.GET('/sessions/{key}/messages', path('doomed'))).response.status).toBe(404)
    // The run stays readable, no longer in a session; the key starts afresh.
    expect((await c.GET('/agent/run/{runId}', { params: { path: { runId: busy.data!.runId } } })).data).toMatchObject({ status: 'cancelled', sessionKey: null })
    await run(c, 'doomed', 'again')
    expect(sentMessages(f.up.requests.at(-1)!)).toEqual([['user', 'again']])
  })

  it('prune drops idle sessions only, counts them on a dry run and never drops one with an active run', async () => {
    await run(c, 'old-1', 'x')
    await run(c, 'old-2', 'x')
    f.up.enqueue({ hang: true })
    const before = f.up.requests.length
    const busy = await c.POST('/agent/async', { body: { message: 'hang', sessionKey: 'old-busy' } })
    await waitFor(() => f.up.requests.length > before, { what: 'the run to reach the upstream' })
    // Everything above is older than 1 ms by the time the prune runs.
    await waitFor(async () => (await c.POST('/sessions/prune', { body: { olderThanMs: 1, dryRun: true } })).data!.count === 2, {
      what: 'the sessions to be idle for 1 ms',
    })
    expect((await c.POST('/sessions/prune', { body: { olderThanMs: 3_600_000 } })).data).toEqual({ dryRun: false, count: 0 })
    expect((await c.GET('/sessions')).data!.items).toHaveLength(3)

    const pruned = await c.POST('/sessions/prune', { body: { olderThanMs: 1 } })
    expect(pruned.data).toEqual({ dryRun: false, count: 2 })
    expect((await c.GET('/sessions')).data!.items.map((s) => s.key)).toEqual(['old-busy'])
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: busy.data!.runId } } })
  })
})
