import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SessionsFixture, startSessionsFixture } from './fixture.js'

const CAP = 3

/** What a message does while its session is busy (queue modes), through the generated client, in both modes. */
describe.each(MODES)('session queue modes (%s mode)', (mode) => {
  let f: SessionsFixture
  let c: OpenVesperClient
  let token: string
  let n = 0
  let key: string

  beforeAll(async () => {
    f = await startSessionsFixture(mode, { OPENVESPER_SESSION_QUEUE_CAP: String(CAP), OPENVESPER_SESSION_COLLECT_DEBOUNCE_MS: '150' })
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    f.up.reset()
    f.up.setDefault({ echo: true })
    token = await f.t.tokenWith(['sessions:read', 'sessions:write', 'runs:read', 'runs:write'])
    c = f.client(token)
    key = `queue-${n++}`
  })

  const path = () => ({ params: { path: { key } } })
  const start = async (message: string, queueMode?: 'reject' | 'followup' | 'collect' | 'steer' | 'interrupt') => {
    const res = await c.POST('/agent/async', { body: { message, sessionKey: key, ...(queueMode ? { queueMode } : {}) } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(202)
    return res.data!.runId
  }
  /** Starts a run whose model call never answers (until it is cancelled) and waits until that call is made. */
  const startBusy = async (message = 'busy') => {
    f.up.enqueue({ hang: true })
    const before = f.up.requests.length
    const runId = await start(message)
    await waitFor(() => f.up.requests.length > before, { what: 'the active run calls the model' })
    return runId
  }
  const waitEnded = async (runId: string) => {
    const res = await c.POST('/agent/run/{runId}/wait', { params: { path: { runId } }, body: { timeoutMs: 20_000 } })
    expect(res.response.status).toBe(200)
    return res.data!
  }
  const transcript = async () => {
    const res = await c.GET('/sessions/{key}/messages', { params: { path: { key }, query: { limit: 200 } } })
    return res.data!.items.map((m) => [m.role, m.content.text])
  }
  const lastUserMessage = (i: number) => f.up.requests[i]!.body.messages.filter((m: { role: string }) => m.role === 'user').at(-1).content

  it('followup (the default): later messages wait, show in the queue in order, and run one after another', async () => {
    const first = await startBusy('m1')
    const second = c.POST('/agent', { body: { message: 'm2', sessionKey: key } }) // sync: answers when its turn has run
    await waitFor(async () => (await c.GET('/sessions/{key}/queue', path())).data?.waiting.length === 1, { what: 'm2 waiting' })
    const third = await start('m3')
    const fourth = await start('m4')

    const queue = (await c.GET('/sessions/{key}/queue', path())).data!
    expect(queue).toMatchObject({ key, mode: 'followup', source: 'default', cap: CAP, activeRunId: first })
    expect(queue.waiting.map((w) => w.message)).toEqual(['m2', 'm3', 'm4'])
    expect(queue.waiting.slice(1).map((w) => w.runId)).toEqual([third, fourth])
    const waiting = (await c.GET('/agent/run/{runId}', { params: { path: { runId: third } } })).data!
    expect(waiting).toMatchObject({ status: 'queued', waiting: true, sessionKey: key })

    // The active run ends (aborted here): the waiting ones run in arrival order.
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: first } } })
    const sync = await second
    expect(sync.data).toMatchObject({ status: 'completed', output: 'm2', waiting: false })
    expect((await waitEnded(fourth)).status).toBe('completed')
    expect(f.up.requests.map((_, i) => lastUserMessage(i))).toEqual(['m1', 'm2', 'm3', 'm4'])
    expect(await transcript()).toEqual([
      ['user', 'm1'],
      ['user', 'm2'],
      ['assistant', 'm2'],
      ['user', 'm3'],
      ['assistant', 'm3'],
      ['user', 'm4'],
      ['assistant', 'm4'],
    ])
    expect((await c.GET('/sessions/{key}/queue', path())).data).toMatchObject({ activeRunId: null, waiting: [] })
  })

  it('reject (set on the session): 409 session_busy naming the active run, and nothing is written', async () => {
    await waitEnded(await start('hello'))
    const set = await c.POST('/sessions/{key}/queue/mode', { ...path(), body: { mode: 'reject' } })
    expect(set.data).toMatchObject({ mode: 'reject', source: 'session' })
    const active = await startBusy()
    const before = await transcript()
    const res = await c.POST('/agent/async', { body: { message: 'refused', sessionKey: key } })
    expect(res.response.status).toBe(409)
    expect(res.error).toMatchObject({ code: 'session_busy', activeRunId: active })
    expect(await transcript()).toEqual(before)
    expect((await c.GET('/sessions/{key}', path())).data?.queueMode).toBe('reject')
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: active } } })
    const cleared = await c.POST('/sessions/{key}/queue/mode', { ...path(), body: { mode: null } })
    expect(cleared.data).toMatchObject({ mode: 'followup', source: 'default' })
  })

  it('collect: messages that arrive while busy become one turn, sent after the active run ends', async () => {
    const active = await startBusy()
    const merged = [await start('c1', 'collect'), await start('c2', 'collect'), await start('c3', 'collect')]
    expect(new Set(merged).size).toBe(1)
    const queue = (await c.GET('/sessions/{key}/queue', path())).data!
    expect(queue.waiting).toEqual([expect.objectContaining({ runId: merged[0], messages: 3, message: 'c1\n\nc2\n\nc3' })])
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: active } } })
    expect((await waitEnded(merged[0]!)).output).toBe('c1\n\nc2\n\nc3')
    expect(f.up.requests).toHaveLength(2)
    expect(lastUserMessage(1)).toBe('c1\n\nc2\n\nc3')
  })

  it('steer: the message reaches the running run at its next model step, and its events show it', async () => {
    f.up.enqueue({ text: 'working on it', delayMs: 600 })
    const active = await start('long task')
    await waitFor(() => f.up.requests.length === 1, { what: 'the run calls the model' })
    expect(await start('also mention the weather', 'steer')).toBe(active)
    const ended = await waitEnded(active)
    expect(ended).toMatchObject({ status: 'completed', output: 'also mention the weather' })
    expect(f.up.requests).toHaveLength(2)
    expect(f.up.requests[1]!.body.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'long task'],
      ['assistant', 'working on it'],
      ['user', 'also mention the weather'],
    ])
    // The ended run's event stream replays what happened, the steered message included.
    const sse = await (await fetch(`${f.base}/agent/run/${active}/events`, { headers: { authorization: `Bearer ${token}` } })).text()
    const types = [...sse.matchAll(/^event: (.+)$/gm)].map((m) => m[1])
    expect(types.filter((t) => t !== 'agent.text_delta')).toEqual([
      'run.started',
      'agent.text',
      'agent.steered',
      'agent.text',
      'agent.turn_complete',
      'run.completed',
    ])
    expect(sse).toContain('"text":"also mention the weather"')
  })

  it('interrupt: the active run is cancelled with its upstream request, and the new message runs', async () => {
    const active = await startBusy()
    const res = await c.POST('/agent', { body: { message: 'stop that, do this', sessionKey: key, queueMode: 'interrupt' } })
    expect(res.data).toMatchObject({ status: 'completed', output: 'stop that, do this' })
    expect((await c.GET('/agent/run/{runId}', { params: { path: { runId: active } } })).data).toMatchObject({ status: 'cancelled' })
    await waitFor(() => f.up.requests[0]!.aborted, { what: 'the interrupted upstream request aborted' })
  })

  it('a full queue answers 429 with Retry-After and writes nothing; an aborted waiting run leaves the others in order', async () => {
    const active = await startBusy()
    const waiting = [await start('w1'), await start('w2'), await start('w3')]
    const full = await c.POST('/agent/async', { body: { message: 'w4', sessionKey: key } })
    expect(full.response.status).toBe(429)
    expect(full.response.headers.get('retry-after')).toBe('1')
    expect(full.error).toMatchObject({ code: 'session_queue_full', activeRunId: active })
    expect((await c.GET('/sessions/{key}/queue', path())).data!.waiting.map((w) => w.message)).toEqual(['w1', 'w2', 'w3'])

    const aborted = await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: waiting[1]! } } })
    expect(aborted.data).toMatchObject({ status: 'cancelled', waiting: false })
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: active } } })
    expect((await waitEnded(waiting[2]!)).status).toBe('completed')
    expect((await waitEnded(waiting[0]!)).status).toBe('completed')
    expect(f.up.requests.slice(1).map((_, i) => lastUserMessage(i + 1))).toEqual(['w1', 'w3'])
    expect((await transcript()).filter(([role]) => role === 'user')).toEqual([
      ['user', 'busy'],
      ['user', 'w1'],
      ['user', 'w3'],
    ])
  })

  it('another principal cannot read or set the queue of a session it does not own', async () => {
    await start('mine')
    const other = await f.principal()
    expect((await other.GET('/sessions/{key}/queue', path())).response.status).toBe(404)
    expect((await other.POST('/sessions/{key}/queue/mode', { ...path(), body: { mode: 'reject' } })).response.status).toBe(404)
    const bad = await c.POST('/sessions/{key}/queue/mode', { ...path(), body: { mode: 'later' as never } })
    expect(bad.response.status).toBe(400)
  })
})
