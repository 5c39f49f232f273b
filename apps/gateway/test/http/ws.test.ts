import { createRun, type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WS_MAX_CONNECTIONS_PER_TOKEN, WS_MAX_PAYLOAD, WS_MESSAGE_BURST, WS_MESSAGES_PER_SECOND } from '../../src/http/ws.js'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../support/helpers.js'
import { upgradeStatus } from '../support/ws-client.js'

interface Rpc {
  jsonrpc: '2.0'
  id?: number | string | null
  method?: string
  params?: Record<string, unknown>
  result?: Record<string, unknown>
  error?: { code: number; message: string; data?: Record<string, unknown> }
}

/** A JSON-RPC client over a real WebSocket that records every message. */
async function connect(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, { headers })
  const messages: Rpc[] = []
  socket.on('message', (d) => messages.push(JSON.parse(d.toString())))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
  })
  let nextId = 1
  return {
    socket,
    messages,
    async call(method: string, params?: unknown): Promise<Rpc> {
      const id = nextId++
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
      return waitFor(() => messages.find((m) => m.id === id), { what: `reply to ${method}` })
    },
    notifications: (runId: string) => messages.filter((m) => m.method && m.params?.runId === runId),
    close: () => socket.close(),
  }
}

describe.each(MODES)('WebSocket /ws JSON-RPC (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let wsUrl: string

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({ mode, env: upstreamEnv(up) })
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    wsUrl = `${base.replace('http', 'ws')}/ws`
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  it('authenticates before the upgrade: no token 401, scope-less token 403, header or ?token= 101', async () => {
    const connections = () => new Promise<number>((resolve) => t.app.server.getConnections((_e, n) => resolve(n)))
    const before = await connections()
    expect(await upgradeStatus(wsUrl)).toBe(401)
    expect(await upgradeStatus(`${wsUrl.replace('/ws', '/ws-unknown')}`, { headers: bearer(t.adminToken) })).toBe(404)
    // A refused upgrade leaves no connection behind on the server.
    await waitFor(async () => (await connections()) === before, { what: 'refused upgrade sockets closed' })
    expect(await upgradeStatus(wsUrl, { headers: { authorization: 'Bearer ovk_wrong' } })).toBe(401)
    const noScope = await t.tokenWith(['sessions:read'])
    expect(await upgradeStatus(wsUrl, { headers: bearer(noScope) })).toBe(403)
    expect(await upgradeStatus(wsUrl, { headers: bearer(t.adminToken) })).toBe(101)
    expect(await upgradeStatus(`${wsUrl}?token=${encodeURIComponent(t.adminToken)}`)).toBe(101)
  })

  it('runs an agent with agent.run and pushes its events in order until run.completed', async () => {
    up.enqueue({ text: 'streamed over the socket' })
    const c = await connect(`${wsUrl}?token=${encodeURIComponent(t.adminToken)}`)
    const reply = await c.call('agent.run', { message: 'hello ws' })
    expect(reply.error).toBeUndefined()
    const runId = String(reply.result!.runId)
    expect(runId).toMatch(/^run_/)
    await waitFor(() => c.notifications(runId).some((m) => m.method === 'run.completed'), { what: 'run.completed' })
    const events = c.notifications(runId)
    expect(events.map((m) => m.params!.seq)).toEqual(events.map((_, i) => i + 1))
    // The reply (which names the run) comes before its first event.
    expect(c.messages.indexOf(reply)).toBeLessThan(c.messages.indexOf(events[0]!))
    expect(
      events
        .filter((m) => m.method === 'agent.text_delta')
        .map((m) => m.params!.text)
        .join(''),
    ).toBe('streamed over the socket')
    expect(events.map((m) => m.method)).toEqual(expect.arrayContaining(['run.started', 'agent.turn_complete', 'run.completed']))
    const got = await c.call('run.get', { runId })
    expect(got.result).toMatchObject({ runId, status: 'completed', output: 'streamed over the socket' })
    c.close()
  })

  it('run.subscribe replays after a sequence number exactly once, then follows live', async () => {
    up.enqueue({ text: 'a b c d e f g h', chunkDelayMs: 30 })
    const created = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'sub' } })
    const { runId } = created.json()
    await waitFor(async () => (await t.services.runs.getOwned({ id: 'prn_admin' }, runId)).lastEventSeq >= 3, { what: 'some events' })
    const c = await connect(wsUrl, bearer(t.adminToken))
    const sub = await c.call('run.subscribe', { runId, afterSeq: 2 })
    expect(sub.result).toMatchObject({ runId, subscribed: true })
    await waitFor(() => c.notifications(runId).some((m) => m.method === 'run.completed'), { what: 'run.completed' })
    const seqs = c.notifications(runId).map((m) => Number(m.params!.seq))
    expect(seqs[0]).toBe(3)
    expect(seqs).toEqual(seqs.map((_, i) => i + 3))
    c.close()
  })

  it('aborts a run with run.abort', async () => {
    up.enqueue({ hang: true })
    const c = await connect(wsUrl, bearer(t.adminToken))
    const { result } = await c.call('agent.run', { message: 'never ends' })
    const runId = String(result!.runId)
    await waitFor(() => up.requests.length === 1, { what: 'upstream called' })
    const aborted = await c.call('run.abort', { runId })
    expect(aborted.result).toMatchObject({ runId, status: 'cancelled' })
    await waitFor(() => c.notifications(runId).some((m) => m.method === 'run.cancelled'), { what: 'run.cancelled' })
    await waitFor(() => up.requests[0]!.aborted, { what: 'upstream aborted' })
    c.close()
  })

  it('answers protocol errors with JSON-RPC error codes', async () => {
    const c = await connect(wsUrl, bearer(t.adminToken))
    c.socket.send('{not json')
    await waitFor(() => c.messages.find((m) => m.error?.code === -32700), { what: 'parse error' })
    c.socket.send(JSON.stringify({ jsonrpc: '1.0', id: 'x', method: 'run.get' }))
    await waitFor(() => c.messages.find((m) => m.id === 'x' && m.error?.code === -32600), { what: 'invalid request' })
    expect((await c.call('nope.method', {})).error?.code).toBe(-32601)
    expect((await c.call('run.get', { runId: '../etc' })).error?.code).toBe(-32602)
    expect((await c.call('agent.run', { message: 'x', scopes: ['admin'] })).error?.code).toBe(-32602)
    expect((await c.call('run.get', { runId: 'run_0000000000000000' })).error).toMatchObject({ code: -32004, data: { code: 'not_found' } })
    c.close()
  })

  it('checks each method against the token scopes and hides other principals’ runs', async () => {
    const created = await createRun(t.runtime.db.db, { principalId: 'prn_admin', status: 'completed', message: 'admin run' })
    const reader = await t.tokenWith(['runs:read'])
    const c = await connect(wsUrl, bearer(reader))
    const denied = await c.call('agent.run', { message: 'not allowed' })
    expect(denied.error).toMatchObject({ code: -32003, data: { code: 'forbidden' } })
    expect((await c.call('run.get', { runId: created.runId })).error?.data?.code).toBe('not_found')
    expect((await c.call('run.subscribe', { runId: created.runId })).error?.data?.code).toBe('not_found')
    expect(c.notifications(created.runId)).toHaveLength(0)
    c.close()
  })

  it('closes an open socket with 1008 soon after its token is revoked (A06)', async () => {
    const { token, record } = await t.services.tokens.create({ name: 'short-lived', scopes: ['runs:read', 'runs:write'] })
    const c = await connect(wsUrl, bearer(token))
    const closed = new Promise<number>((resolve) => c.socket.once('close', (code) => resolve(code)))
    const res = await t.app.inject({ method: 'DELETE', url: `/auth/tokens/${record.id}`, headers: bearer(t.adminToken) })
    expect(res.statusCode).toBe(204)
    const started = Date.now()
    expect(await closed).toBe(1008)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await upgradeStatus(wsUrl, { headers: bearer(token) })).toBe(401)
  })

  it('limits messages per token, not per socket: excess is refused and not processed (A12)', async () => {
    const token = await t.tokenWith(['runs:read'])
    const a = await connect(wsUrl, bearer(token))
    const b = await connect(wsUrl, bearer(token))
    const started = Date.now()
    const total = 3 * WS_MESSAGE_BURST
    for (let i = 0; i < total; i++)
      (i % 2 ? a : b).socket.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'run.get', params: { runId: 'run_0000000000000000' } }))
    const replies = () => [...a.messages, ...b.messages]
    await waitFor(() => replies().length === total, { what: 'a reply to every message' })
    const elapsedS = (Date.now() - started) / 1000
    const processed = replies().filter((m) => m.error?.data?.code === 'not_found').length
    const refused = replies().filter((m) => m.error?.data?.code === 'rate_limited').length
    expect(processed + refused).toBe(total)
    // Two sockets share one budget: the burst plus what refilled while sending.
    expect(processed).toBeLessThanOrEqual(WS_MESSAGE_BURST + Math.ceil(elapsedS * WS_MESSAGES_PER_SECOND) + 1)
    expect(refused).toBeGreaterThan(0)
    a.close()
    b.close()
  })

  it('refuses a WebSocket upgrade beyond the per-token connection cap with 429 (A12)', async () => {
    const token = await t.tokenWith(['runs:read'])
    const open: Awaited<ReturnType<typeof connect>>[] = []
    for (let i = 0; i < WS_MAX_CONNECTIONS_PER_TOKEN; i++) open.push(await connect(wsUrl, bearer(token)))
    expect(await upgradeStatus(wsUrl, { headers: bearer(token) })).toBe(429)
    expect(await upgradeStatus(wsUrl, { headers: bearer(t.adminToken) })).toBe(101)
    const closed = new Promise((resolve) => open[0]!.socket.once('close', resolve))
    open[0]!.close()
    await closed
    await waitFor(async () => (await upgradeStatus(wsUrl, { headers: bearer(token) })) === 101, { what: 'a slot to free up' })
    for (const c of open) c.close()
  })

  it('closes the socket with 1009 for a message over the size limit, and others keep working', async () => {
    const big = await connect(wsUrl, bearer(t.adminToken))
    const other = await connect(wsUrl, bearer(t.adminToken))
    const closed = new Promise<number>((resolve) => big.socket.once('close', (code) => resolve(code)))
    big.socket.send('x'.repeat(WS_MAX_PAYLOAD + 1))
    expect(await closed).toBe(1009)
    up.enqueue({ text: 'still fine' })
    const r = await other.call('agent.run', { message: 'ok?' })
    expect(r.result?.runId).toBeDefined()
    other.close()
  })
})

describe('shutdown with open streams', () => {
  it('closes WebSocket clients with 1001 and ends open SSE streams so close() does not hang', async () => {
    const up = await startFakeUpstream()
    const t = await buildTestApp({ env: upstreamEnv(up) })
    try {
      const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
      up.setDefault({ hang: true })
      const { runId } = (await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'hang' } })).json()
      const sse = fetch(`${base}/agent/run/${runId}/events`, { headers: bearer(t.adminToken) }).then(async (res) => {
        await res.text().catch(() => '')
        return res.status
      })
      const c = await connect(`${base.replace('http', 'ws')}/ws`, bearer(t.adminToken))
      await waitFor(() => up.requests.length === 1, { what: 'run started' })
      const closed = new Promise<number>((resolve) => c.socket.once('close', (code) => resolve(code)))
      await t.app.close()
      expect(await closed).toBe(1001)
      expect(await sse).toBe(200)
    } finally {
      await t.close()
      await up.close()
    }
  })
})
