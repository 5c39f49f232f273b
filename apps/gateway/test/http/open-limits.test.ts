import { connect as tcpConnect, type Socket } from 'node:net'
import { loadConfig } from '@openvesper/config'
import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, SERVER_TIMEOUTS } from '../../src/app.js'
import { OPEN_LIMIT_RETRY_AFTER_S } from '../../src/http/open-limits.js'
import { RPC } from '../../src/http/rpc.js'
import { createLogger } from '../../src/http/logger.js'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../support/helpers.js'
import { connectRpc } from '../support/ws-client.js'

/**
 * Bounded resources per client (issue 15): open SSE streams per token, WebSocket subscriptions per socket, open
 * connections per address, server timeouts that hold, and followers that cost nothing while their run is quiet.
 */

const SSE_CAP = 2
const SUB_CAP = 2
const CONN_CAP = 3

/** Opens an SSE stream and returns once its headers arrived (status 200) or it was refused. */
async function openStream(url: string, init: RequestInit = {}) {
  const ctrl = new AbortController()
  const res = await fetch(url, { ...init, signal: ctrl.signal })
  const close = () => {
    ctrl.abort()
    res.body?.cancel().catch(() => {})
  }
  return { res, close }
}

/** A raw TCP connection that collects what the server sends and notes when it closed. */
function rawSocket(port: number): Promise<{ socket: Socket; received: () => string; closedAt: () => number | undefined }> {
  return new Promise((resolve, reject) => {
    let data = ''
    let closedAt: number | undefined
    const socket = tcpConnect(port, '127.0.0.1', () => resolve({ socket, received: () => data, closedAt: () => closedAt }))
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('close', () => (closedAt ??= Date.now()))
    socket.on('error', () => {})
    socket.once('error', reject)
  })
}

describe.each(MODES)('open resources per client (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string

  beforeAll(async () => {
    up = await startFakeUpstream()
    up.setDefault({ hang: true })
    t = await buildTestApp({
      mode,
      env: upstreamEnv(up, { OPENVESPER_SSE_STREAMS_PER_TOKEN: String(SSE_CAP), OPENVESPER_WS_SUBSCRIPTIONS_PER_SOCKET: String(SUB_CAP) }),
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })

  const startHangingRun = async (token: string): Promise<string> => {
    const res = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(token), payload: { message: 'hang' } })
    expect(res.statusCode).toBe(202)
    return res.json().runId
  }
  const abort = (token: string, runId: string) => t.app.inject({ method: 'POST', url: `/agent/run/${runId}/abort`, headers: bearer(token) })

  it('refuses an SSE stream past the per-token cap with 429 and Retry-After, creates no run for it, and frees the slot on close', async () => {
    const token = await t.tokenWith(['runs:read', 'runs:write'])
    const runId = await startHangingRun(token)
    const events = `${base}/agent/run/${runId}/events`
    const open = [await openStream(events, { headers: bearer(token) }), await openStream(events, { headers: bearer(token) })]
    expect(open.map((s) => s.res.status)).toEqual([200, 200])

    const refused = await fetch(events, { headers: bearer(token) })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe(String(OPEN_LIMIT_RETRY_AFTER_S))
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await refused.json()).toMatchObject({ code: 'rate_limited', status: 429 })

    // A creating stream route is refused before the run exists: the provider is never asked.
    const asked = up.requests.length
    const streamed = await fetch(`${base}/agent/stream`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'refused before creation' }),
    })
    expect(streamed.status).toBe(429)
    await new Promise((r) => setTimeout(r, 300))
    expect(up.requests.length).toBe(asked)
    expect(up.requests.some((r) => JSON.stringify(r.body).includes('refused before creation'))).toBe(false)

    // The cap is per token: another token still streams.
    const other = await t.tokenWith(['runs:read', 'runs:write'])
    const otherRun = await startHangingRun(other)
    const theirs = await openStream(`${base}/agent/run/${otherRun}/events`, { headers: bearer(other) })
    expect(theirs.res.status).toBe(200)
    theirs.close()

    // Closing a stream frees its slot.
    open[0]!.close()
    await waitFor(
      async () => {
        const again = await openStream(events, { headers: bearer(token) })
        if (again.res.status === 200) {
          open[0] = again
          return true
        }
        again.close()
        return false
      },
      { what: 'a freed SSE slot' },
    )
    for (const s of open) s.close()
    await abort(token, runId)
    await abort(other, otherRun)
  })

  it('answers agent.run and run.subscribe past the per-socket subscription cap with JSON-RPC -32029, creating nothing', async () => {
    const token = await t.tokenWith(['runs:read', 'runs:write'])
    const c = await connectRpc(`${base.replace('http', 'ws')}/ws`, bearer(token))
    const runs: string[] = []
    const before = up.requests.length
    for (let i = 0; i < SUB_CAP; i++) {
      const reply = await c.call('agent.run', { message: `sub ${i}` })
      expect(reply.error).toBeUndefined()
      runs.push(String(reply.result!.runId))
    }
    // Each accepted run calls the model after its reply: count them all before checking the refused one adds none.
    await waitFor(() => up.requests.length >= before + SUB_CAP, { what: 'every accepted run calling the model' })
    const asked = up.requests.length
    const over = await c.call('agent.run', { message: 'one too many' })
    expect(over.error).toMatchObject({ code: RPC.rateLimited, data: { code: 'rate_limited' } })
    expect(over.error!.message).toMatch(new RegExp(`at most ${SUB_CAP} subscriptions`))
    await new Promise((r) => setTimeout(r, 300))
    expect(up.requests.length).toBe(asked)

    const elsewhere = await startHangingRun(token)
    const sub = await c.call('run.subscribe', { runId: elsewhere })
    expect(sub.error).toMatchObject({ code: RPC.rateLimited, data: { code: 'rate_limited' } })
    // Unsubscribing frees a slot.
    const unsub = await c.call('run.unsubscribe', { runId: runs[0] })
    expect(unsub.result).toMatchObject({ subscribed: false })
    await waitFor(
      async () => {
        const r = await c.call('run.subscribe', { runId: elsewhere })
        return r.result?.subscribed === true
      },
      { what: 'a freed subscription slot' },
    )
    c.close()
    for (const id of [...runs, elsewhere]) await abort(token, id)
  })

  it('the defaults are documented and bounded', () => {
    const defaults = loadConfig({}).limits.open
    expect(defaults).toEqual({ sseStreamsPerToken: 32, wsSubscriptionsPerSocket: 64, connectionsPerAddress: 256 })
  })
})

describe('open connections per client address', () => {
  let app: FastifyInstance
  let t: TestApp
  let port: number

  beforeAll(async () => {
    t = await buildTestApp({ mode: 'embedded' })
    const config = loadConfig({ OPENVESPER_CONNECTIONS_PER_ADDRESS: String(CONN_CAP), OPENVESPER_TOKEN: t.adminToken, OPENVESPER_LOG_LEVEL: 'silent' })
    app = await buildApp({ config, services: t.services, log: createLogger('silent') })
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    await app?.close()
    await t?.close()
  })

  it('answers the connection past the cap 429 with Retry-After and closes it; a freed slot serves again', async () => {
    const held = await Promise.all(Array.from({ length: CONN_CAP }, () => rawSocket(port)))
    const extra = await rawSocket(port)
    extra.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await waitFor(() => extra.closedAt() !== undefined, { what: 'the connection over the cap closed' })
    expect(extra.received()).toMatch(/^HTTP\/1\.1 429 /)
    expect(extra.received()).toMatch(new RegExp(`\\r\\nretry-after: ${OPEN_LIMIT_RETRY_AFTER_S}\\r\\n`, 'i'))
    expect(extra.received()).toMatch(/"code":"rate_limited"/)

    // Those under the cap are served.
    held[0]!.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
    await waitFor(() => held[0]!.received().includes('"status":"ok"'), { what: 'a held connection served' })

    // A connection past the cap that sends nothing is destroyed soon.
    const silent = await rawSocket(port)
    await waitFor(() => silent.closedAt() !== undefined, { timeoutMs: 5000, what: 'a silent connection over the cap destroyed' })

    held[0]!.socket.destroy()
    await waitFor(
      async () => {
        const fresh = await rawSocket(port)
        fresh.socket.write('GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n')
        await waitFor(() => fresh.closedAt() !== undefined, { what: 'fresh connection answered' })
        return fresh.received().startsWith('HTTP/1.1 200 ')
      },
      { what: 'a freed connection slot' },
    )
    for (const h of held) h.socket.destroy()
  })
})

describe('server timeouts hold (A19)', () => {
  let app: FastifyInstance
  let t: TestApp
  let port: number
  const timeouts = { headersTimeoutMs: 1000, requestTimeoutMs: 1500, connectionTimeoutMs: 1000 }

  beforeAll(async () => {
    t = await buildTestApp({ mode: 'embedded' })
    const config = loadConfig({ OPENVESPER_TOKEN: t.adminToken, OPENVESPER_LOG_LEVEL: 'silent' })
    // Only the three timeouts are shortened: the timeout check interval is the production one.
    app = await buildApp({ config, services: t.services, log: createLogger('silent'), timeouts })
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    await app?.close()
    await t?.close()
  })

  it('checks the request and headers timeouts at least every second', () => {
    expect(SERVER_TIMEOUTS.connectionsCheckingIntervalMs).toBeLessThanOrEqual(1000)
  })

  /** A sender of one byte every 200 ms; resolves with how long the server let it live. */
  async function trickle(prefix: string, bytes: string): Promise<number> {
    const s = await rawSocket(port)
    const started = Date.now()
    s.socket.write(prefix)
    let i = 0
    const timer = setInterval(() => {
      if (s.closedAt() === undefined) s.socket.write(bytes[i++ % bytes.length]!)
    }, 200)
    try {
      await waitFor(() => s.closedAt() !== undefined, { timeoutMs: 10_000, what: 'the slow sender disconnected' })
    } finally {
      clearInterval(timer)
    }
    return s.closedAt()! - started
  }

  it('closes a client sending its headers at 5 bytes/s within the headers timeout plus the check interval', async () => {
    const lived = await trickle('GET /health HTTP/1.1\r\n', 'x-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    expect(lived).toBeGreaterThanOrEqual(timeouts.headersTimeoutMs - 50)
    expect(lived).toBeLessThanOrEqual(timeouts.headersTimeoutMs + SERVER_TIMEOUTS.connectionsCheckingIntervalMs + 500)
  })

  it('closes a client sending its body at 5 bytes/s within the request timeout plus the check interval', async () => {
    const body = `{"name":"${'a'.repeat(200)}"}`
    const lived = await trickle(
      `POST /v1/tokens HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.adminToken}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
      body,
    )
    expect(lived).toBeLessThanOrEqual(timeouts.requestTimeoutMs + SERVER_TIMEOUTS.connectionsCheckingIntervalMs + 500)
  })

  it('closes an idle connection that sends nothing at the connection timeout', async () => {
    const s = await rawSocket(port)
    const started = Date.now()
    await waitFor(() => s.closedAt() !== undefined, { timeoutMs: 5000, what: 'the idle connection closed' })
    expect(s.closedAt()! - started).toBeLessThanOrEqual(timeouts.connectionTimeoutMs + 500)
  })
})

describe('a quiet subscription costs nothing (server mode)', () => {
  const READERS = 40
  let t: TestApp
  let up: FakeUpstream
  let base: string
  let sql: postgres.Sql

  beforeAll(async () => {
    up = await startFakeUpstream()
    up.setDefault({ hang: true })
    // No periodic job during the measurement (reconciler, approval expiry, scheduler sweep, memory purge): what is
    // counted is what the readers cost.
    t = await buildTestApp({
      mode: 'server',
      env: upstreamEnv(up, {
        OPENVESPER_SSE_STREAMS_PER_TOKEN: String(READERS),
        OPENVESPER_RECONCILE_INTERVAL_MS: '600000',
        OPENVESPER_SCHEDULER_SWEEP_MS: '600000',
        OPENVESPER_MEMORY_PURGE_INTERVAL_MS: '600000',
      }),
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    sql = postgres(t.databaseUrl!, { max: 1, onnotice: () => {} })
  })
  afterAll(async () => {
    await sql?.end()
    await t?.close()
    await up?.close()
  })

  /** Transactions committed in the test database so far (each query of the gateway is one). */
  const commits = async () => {
    const [row] = await sql<{ n: string }[]>`select xact_commit as n from pg_stat_database where datname = current_database()`
    return Number(row!.n)
  }

  it(`${READERS} idle SSE readers of a quiet run cost fewer database queries than one per reader over 4 s`, async () => {
    const token = await t.tokenWith(['runs:read', 'runs:write'])
    const res = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(token), payload: { message: 'quiet' } })
    const runId = res.json().runId as string
    await waitFor(() => up.requests.length >= 1, { what: 'the run waiting on its provider' })
    const readers = await Promise.all(Array.from({ length: READERS }, () => openStream(`${base}/agent/run/${runId}/events`, { headers: bearer(token) })))
    expect(readers.every((r) => r.res.status === 200)).toBe(true)
    // Postgres publishes a backend's counts up to PGSTAT_IDLE_INTERVAL (10 s) late: the readers' start-up reads
    // (a few per reader) must be counted before the window opens, and the window's own after it closes.
    await new Promise((r) => setTimeout(r, 11_000))
    const before = await commits()
    await new Promise((r) => setTimeout(r, 4000))
    const during = await commits()
    // A poll per reader is ≥ 2 queries per reader per second (≈ 320 here); one check per process is a handful.
    expect(during - before - 1).toBeLessThan(READERS / 2)
    for (const r of readers) r.close()
    await t.app.inject({ method: 'POST', url: `/agent/run/${runId}/abort`, headers: bearer(token) })
  }, 40_000)
})
