import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDb, MIGRATIONS_FOLDER } from '@openvesper/db'
import {
  createTestDatabase,
  createTestRedis,
  databaseUrl,
  type FakeUpstream,
  type RecordedRequest,
  startFakeUpstream,
  TEST_PG_ADMIN_URL,
  type TestDatabase,
  type TestRedis,
  waitFor,
} from '@openvesper/testing'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createProcessGroup, type GatewayProcess, type ProcessGroup, type ProcessRole } from '../support/process.js'

/**
 * Process tests (A33, A35, A28, embedded durability): the built gateway runs as real OS processes — an `api`
 * gateway and `worker` processes on a cloned Postgres database and a unique Redis prefix, or one `all` process
 * on a PGlite data folder — and is killed with SIGKILL or stopped with SIGTERM. Assertions read the database.
 */

const TOKEN = `ovk_process_${randomBytes(12).toString('hex')}`
const TERMINAL = ['completed', 'failed', 'cancelled']
const LONG = 60_000

interface RunRowLite {
  id: string
  status: string
  attempt: number
  failure_reason: string | null
  lease_owner: string | null
  session_id: string | null
  message: string
  output: string | null
}

/** The text of the last user message of a recorded chat completions request. */
function lastUserText(req: RecordedRequest): string {
  const messages = (req.body?.messages ?? []) as { role: string; content: unknown }[]
  const user = messages.filter((m) => m.role === 'user').at(-1)
  return typeof user?.content === 'string' ? user.content : ''
}

const requestsFor = (up: FakeUpstream, message: string) => up.requests.filter((r) => lastUserText(r) === message)

/** Runs `tasks` with at most `limit` in flight; resolves with their results in order. */
async function bounded<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++
        results[i] = await tasks[i]!()
      }
    }),
  )
  return results
}

async function submitAsync(api: GatewayProcess, body: { message: string; sessionKey?: string }): Promise<string> {
  const res = await fetch(`${api.url}/agent/async`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  if (res.status !== 202) throw new Error(`POST /agent/async answered ${res.status}: ${text}`)
  return (JSON.parse(text) as { runId: string }).runId
}

/** One request on a fresh connection (no keep-alive pool): its status, or the socket error code. */
function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/health`, { agent: false, timeout: 5000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message))
    req.end()
  })
}

describe('gateway and workers as processes (server mode)', () => {
  let procs: ProcessGroup
  let up: FakeUpstream
  let database: TestDatabase | undefined
  let redis: TestRedis | undefined
  let sql: postgres.Sql | undefined
  const cleanups: (() => Promise<void>)[] = []

  beforeEach(async (ctx) => {
    procs = createProcessGroup(ctx)
    up = await startFakeUpstream()
  })

  afterEach(async () => {
    await procs.stopAll()
    await sql?.end({ timeout: 5 })
    sql = undefined
    await up.close()
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await redis?.cleanup()
    redis = undefined
    await database?.drop()
    database = undefined
  })

  /** A cloned database, a Redis prefix and a SQL client for this test. */
  async function serverResources(): Promise<postgres.Sql> {
    database = await createTestDatabase()
    redis = await createTestRedis()
    sql = postgres(database.url, { max: 4, onnotice: () => {} })
    return sql
  }

  function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: database!.url,
      REDIS_URL: redis!.url,
      OPENVESPER_REDIS_PREFIX: redis!.prefix,
      OPENVESPER_TOKEN: TOKEN,
      OPENAI_BASE_URL: `${up.url}/v1`,
      OPENAI_API_KEY: 'sk-process-test',
      OPENVESPER_MODEL: 'openai/test',
      OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
      OPENVESPER_DB_POOL_MAX: '5',
      ...extra,
    }
  }

  async function start(role: ProcessRole, name: string, env: Record<string, string>): Promise<GatewayProcess> {
    const p = await procs.spawn({ role, name, env })
    await p.waitReady(LONG)
    return p
  }

  async function runRows(db: postgres.Sql, ids: string[]): Promise<RunRowLite[]> {
    return db<RunRowLite[]>`
      select id, status, attempt, failure_reason, lease_owner, session_id, input->>'message' as message, output
      from runs where id = any(${ids}) order by id`
  }

  async function eventTypes(db: postgres.Sql, runId: string): Promise<string[]> {
    const rows = await db<{ type: string }[]>`select type from run_events where run_id = ${runId} order by seq`
    return rows.map((r) => r.type)
  }

  async function allTerminal(db: postgres.Sql, ids: string[]): Promise<boolean> {
    const [row] = await db<{ n: number }[]>`select count(*)::int as n from runs where id = any(${ids}) and status = any(${TERMINAL})`
    return row!.n === ids.length
  }

  it('executes 200 async runs exactly once each, spread over two worker processes', { timeout: 120_000 }, async () => {
    const db = await serverResources()
    const env = serverEnv()
    const api = await start('api', 'api', env)
    const [w1, w2] = await Promise.all([start('worker', 'worker-1', env), start('worker', 'worker-2', env)])
    const workerIds = [w1.workerId(), w2.workerId()]
    expect(workerIds[0]).toMatch(/^wrk_/)
    expect(workerIds[1]).toMatch(/^wrk_/)
    expect(workerIds[0]).not.toBe(workerIds[1])

    up.setDefault((req) => ({ text: `done: ${lastUserText(req)}`, delayMs: 400 }))

    const messages = Array.from({ length: 200 }, (_, i) => `task ${i} ${randomBytes(4).toString('hex')}`)
    const ids = await bounded(
      16,
      messages.map((message) => () => submitAsync(api, { message })),
    )
    expect(new Set(ids).size).toBe(200)

    await waitFor(() => allTerminal(db, ids), { timeoutMs: LONG, intervalMs: 200, what: '200 runs to be terminal' })
    const rows = await runRows(db, ids)
    expect(rows.filter((r) => r.status !== 'completed')).toEqual([])
    expect(rows.every((r) => r.attempt === 1)).toBe(true)
    for (const r of rows) expect(r.output).toBe(`done: ${r.message}`)

    // Exactly one upstream call per run, one run.started and one run.completed per run.
    expect(up.requests).toHaveLength(200)
    expect(new Set(up.requests.map(lastUserText))).toEqual(new Set(messages))
    const counts = await db<{ type: string; n: number }[]>`
      select type, count(*)::int as n from run_events where run_id = any(${ids}) and type like 'run.%' group by type order by type`
    expect(counts).toEqual([
      { type: 'run.completed', n: 200 },
      { type: 'run.started', n: 200 },
    ])

    // Both worker processes executed runs, and nothing else did. Every run had one attempt, so the worker whose claim
    // wrote its run.started event (the lease owner at that moment) is the one that executed it. (Read afterwards:
    // a query sent while the upstream held the request raced the 400 ms reply on a loaded machine.)
    const started = await db<{ worker: string | null }[]>`
      select data->>'worker' as worker from run_events where run_id = any(${ids}) and type = 'run.started'`
    const owners = started.map((r) => r.worker)
    expect(owners).toHaveLength(200)
    expect(owners.filter((o) => o !== workerIds[0] && o !== workerIds[1])).toEqual([])
    const perWorker = workerIds.map((w) => owners.filter((o) => o === w).length)
    expect(perWorker[0]).toBeGreaterThan(0)
    expect(perWorker[1]).toBeGreaterThan(0)
    expect(perWorker[0]! + perWorker[1]!).toBe(200)
  })

  it.each([
    { maxAttempts: 2, outcome: 'completed' },
    { maxAttempts: 1, outcome: 'failed' },
  ])(
    'after kill -9 of a worker mid-run, another worker brings every run to a terminal state (max attempts $maxAttempts → $outcome)',
    { timeout: 120_000 },
    async ({ maxAttempts, outcome }) => {
      const db = await serverResources()
      const env = serverEnv({
        OPENVESPER_RUN_LEASE_MS: '2000',
        OPENVESPER_RECONCILE_INTERVAL_MS: '500',
        OPENVESPER_STALE_QUEUED_MS: '1000',
        OPENVESPER_RUN_MAX_ATTEMPTS: String(maxAttempts),
      })
      // The first execution of each run hangs in the upstream; a re-execution is answered at once.
      up.setDefault((req) => (requestsFor(up, lastUserText(req)).length === 1 ? { hang: true } : { text: `recovered: ${lastUserText(req)}` }))

      const api = await start('api', 'api', env)
      const w1 = await start('worker', 'worker-1', env)
      const runs = Array.from({ length: 6 }, (_, i) => ({ message: `crash ${i} ${randomBytes(4).toString('hex')}`, sessionKey: `s-crash-${i}` }))
      const ids = await Promise.all(runs.map((r) => submitAsync(api, r)))
      await waitFor(async () => (await runRows(db, ids)).every((r) => r.status === 'running' && r.lease_owner === w1.workerId()) && up.requests.length === 6, {
        timeoutMs: LONG,
        intervalMs: 100,
        what: 'all 6 runs to be running on worker-1 with their upstream call in flight',
      })

      w1.kill('SIGKILL')
      expect(await w1.exited).toMatchObject({ signal: 'SIGKILL' })
      await start('worker', 'worker-2', env)

      await waitFor(() => allTerminal(db, ids), { timeoutMs: LONG, intervalMs: 200, what: 'every run to be terminal after the crash' })
      const rows = await runRows(db, ids)
      expect(rows.filter((r) => r.status === 'running')).toEqual([])
      for (const r of rows) {
        const types = await eventTypes(db, r.id)
        const sent = requestsFor(up, r.message)
        if (outcome === 'completed') {
          expect(r).toMatchObject({ status: 'completed', attempt: 2, failure_reason: null, output: `recovered: ${r.message}` })
          expect(types.filter((t) => t === 'run.retrying')).toHaveLength(1)
          expect(types.filter((t) => t === 'run.started')).toHaveLength(2)
          expect(types.filter((t) => t === 'run.completed')).toHaveLength(1)
          expect(sent).toHaveLength(2)
          // The re-execution sees the user message once: the transcript was not appended to again.
          expect((sent[1]!.body.messages as { role: string }[]).filter((m) => m.role === 'user')).toHaveLength(1)
        } else {
          expect(r).toMatchObject({ status: 'failed', attempt: 1, failure_reason: 'worker_lost' })
          expect(types.filter((t) => t === 'run.retrying')).toHaveLength(0)
          expect(types.filter((t) => t === 'run.failed')).toHaveLength(1)
          expect(sent).toHaveLength(1)
        }
        expect(types.filter((t) => TERMINAL.includes(t.replace('run.', '')))).toHaveLength(1)
        expect(types.at(-1)).toBe(`run.${outcome}`)

        const transcript = await db<{ role: string; text: string }[]>`
          select role, content->>'text' as text from session_messages where session_id = ${r.session_id} order by seq`
        expect(transcript.filter((m) => m.role === 'user')).toEqual([{ role: 'user', text: r.message }])
        expect(transcript.filter((m) => m.role === 'assistant')).toEqual(
          outcome === 'completed' ? [{ role: 'assistant', text: `recovered: ${r.message}` }] : [],
        )
      }
    },
  )

  it('SIGTERM on a worker: it stops fetching, hands its unfinished runs back within the grace period and exits 0', { timeout: 120_000 }, async () => {
    const db = await serverResources()
    // No help from the reconciler here (stale queued runs are re-sent only after 10 minutes): the handover is the
    // worker's own doing.
    const env = serverEnv({
      OPENVESPER_SHUTDOWN_GRACE_MS: '1500',
      OPENVESPER_RUN_LEASE_MS: '3000',
      OPENVESPER_RECONCILE_INTERVAL_MS: '500',
      OPENVESPER_STALE_QUEUED_MS: '600000',
    })
    up.setDefault((req) => {
      const message = lastUserText(req)
      if (requestsFor(up, message).length > 1) return { text: `second: ${message}` }
      return message.startsWith('long') ? { hang: true } : { text: `first: ${message}`, delayMs: 300 }
    })
    const api = await start('api', 'api', env)
    const w1 = await start('worker', 'worker-1', env)
    const long = Array.from({ length: 3 }, (_, i) => `long ${i} ${randomBytes(4).toString('hex')}`)
    const short = Array.from({ length: 2 }, (_, i) => `short ${i} ${randomBytes(4).toString('hex')}`)
    const ids = await Promise.all([...long, ...short].map((message) => submitAsync(api, { message })))
    await waitFor(() => up.requests.length === 5, { timeoutMs: LONG, intervalMs: 50, what: 'all 5 runs to call the upstream' })

    w1.kill('SIGTERM')
    await w1.waitForLog(/shutting down/)
    // Submitted while worker-1 closes: it must not take it.
    const lateId = await submitAsync(api, { message: `late ${randomBytes(4).toString('hex')}` })
    const exit = await w1.exited
    expect(exit).toEqual({ code: 0, signal: null })
    expect(w1.logs().some((l) => /grace period over/.test(String(l.msg)))).toBe(true)

    // Right after the exit: nothing is left running; the hanging runs are back in the queue, not lost.
    const after = await runRows(db, [...ids, lateId])
    expect(after.filter((r) => r.status === 'running')).toEqual([])
    expect(after.filter((r) => r.lease_owner !== null)).toEqual([])
    const byMessage = new Map(after.map((r) => [r.message, r]))
    for (const m of long) expect(byMessage.get(m)).toMatchObject({ status: 'queued', attempt: 1 })
    for (const m of short) expect(['completed', 'queued']).toContain(byMessage.get(m)!.status)
    expect(after.find((r) => r.id === lateId)).toMatchObject({ status: 'queued', attempt: 0 })
    expect(up.requests).toHaveLength(5)
    for (const m of long) expect(requestsFor(up, m)[0]!.aborted).toBe(true)

    // Another worker completes all of them.
    const w2 = await start('worker', 'worker-2', env)
    const all = [...ids, lateId]
    await waitFor(() => allTerminal(db, all), { timeoutMs: LONG, intervalMs: 200, what: 'the handed-back runs to complete on worker-2' })
    const rows = await runRows(db, all)
    expect(rows.filter((r) => r.status !== 'completed')).toEqual([])
    for (const r of rows) {
      if (long.includes(r.message)) expect(r).toMatchObject({ attempt: 2, output: `second: ${r.message}` })
      else expect(r.attempt === 1 ? r.output === `first: ${r.message}` : r.output === `second: ${r.message}`).toBe(true)
      expect((await eventTypes(db, r.id)).filter((t) => TERMINAL.includes(t.replace('run.', '')))).toEqual(['run.completed'])
    }
    expect(w2.exit).toBeUndefined()
  })

  it('SIGTERM on the api gateway: new requests are refused, in-flight ones complete, streams are cut at the grace period, exit 0', {
    timeout: 120_000,
  }, async () => {
    await serverResources()
    const env = serverEnv({ OPENVESPER_SHUTDOWN_GRACE_MS: '4000' })
    up.setDefault({ text: 'finished in flight', delayMs: 1500 })
    const api = await start('api', 'api', env)
    const auth = { authorization: `Bearer ${TOKEN}` }

    // Long-lived responses that never end on their own: an SSE stream and a wait on a run no worker will take.
    const queuedId = await submitAsync(api, { message: 'nobody takes me' })
    const stream = await fetch(`${api.url}/agent/run/${queuedId}/events`, { headers: auth })
    expect(stream.status).toBe(200)
    const streamEnded = stream.text().then(
      () => 'ended',
      () => 'cut',
    )
    const waiting = fetch(`${api.url}/agent/run/${queuedId}/wait`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ timeoutMs: 120_000 }),
    }).then(
      (r) => r.status,
      () => 'cut',
    )

    let settled = false
    const inFlight = fetch(`${api.url}/agent`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'sync while closing' }),
    }).finally(() => {
      settled = true
    })
    await waitFor(() => up.requests.length === 1, { timeoutMs: LONG, what: 'the sync run to reach the upstream' })

    api.kill('SIGTERM')
    await api.waitForLog(/shutting down/)
    const refused = await waitFor(
      async () => {
        const r = await probe(api.url!)
        return r === 503 || r === 'ECONNREFUSED' ? r : undefined
      },
      { timeoutMs: LONG, intervalMs: 20, what: 'a new request to be refused (503 or ECONNREFUSED)' },
    )
    expect([503, 'ECONNREFUSED']).toContain(refused)
    expect(settled).toBe(false)

    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'completed', output: 'finished in flight' })
    // Exit 0 is the graceful path: close-with-grace's hard timeout exits 1.
    expect(await api.exited).toEqual({ code: 0, signal: null })
    expect(['ended', 'cut']).toContain(await streamEnded)
    expect(await waiting).toBe('cut')
    expect(api.output()).not.toMatch(/killed by timeout/)
  })

  it('three processes started at once on an empty database migrate it once and register each job scheduler once', { timeout: 120_000 }, async () => {
    redis = await createTestRedis()
    const name = `ov_t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}_empty`
    const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
    try {
      await admin.unsafe(`create database ${name}`)
    } finally {
      await admin.end()
    }
    cleanups.push(async () => {
      const a = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await a.end()
      }
    })
    const url = databaseUrl(name)
    sql = postgres(url, { max: 2, onnotice: () => {} })
    const env = {
      DATABASE_URL: url,
      REDIS_URL: redis.url,
      OPENVESPER_REDIS_PREFIX: redis.prefix,
      OPENVESPER_TOKEN: TOKEN,
      OPENVESPER_MODEL: 'echo',
      OPENVESPER_DB_POOL_MAX: '3',
    }
    const [before] = await sql<{ n: number }[]>`select count(*)::int as n from pg_tables where schemaname = 'public'`
    expect(before!.n).toBe(0)

    const started = await Promise.all(['a', 'b', 'c'].map((n) => procs.spawn({ role: 'all', name: `gateway-${n}`, env })))
    await Promise.all(started.map((p) => p.waitReady(LONG)))

    const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
    const applied = await sql<{ hash: string }[]>`select hash from drizzle.__drizzle_migrations`
    expect(applied).toHaveLength(journal.entries.length)
    expect(new Set(applied.map((r) => r.hash)).size).toBe(journal.entries.length)
    const tokens = await sql<{ n: number }[]>`select count(*)::int as n from api_tokens`
    expect(tokens[0]!.n).toBe(1)

    // Each job scheduler once under the prefix, however many processes registered it: BullMQ keeps scheduler ids in
    // `<prefix>:<queue>:repeat`.
    const expected = ['approvals-expire', 'memory-purge', 'runs-reconcile', 'scheduler-sweep']
    const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    await r.connect()
    try {
      const schedulers = await r.zrange(`${redis.prefix}:jobs:repeat`, '0', '-1')
      expect([...schedulers].sort()).toEqual(expected)
      const keys: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await r.scan(cursor, 'MATCH', `${redis.prefix}:jobs:repeat:*`, 'COUNT', 500)
        cursor = next
        keys.push(...batch)
      } while (cursor !== '0')
      // `repeat:<scheduler>` is a scheduler; `repeat:<scheduler>:<millis>` is one of its iteration jobs.
      expect(keys.filter((k) => !/:\d+$/.test(k)).sort()).toEqual(expected.map((id) => `${redis!.prefix}:jobs:repeat:${id}`))
    } finally {
      r.disconnect()
    }

    // And the three serve: each answers, and an async run submitted to one is executed.
    for (const p of started) expect(await probe(p.url!)).toBe(200)
    const runId = await submitAsync(started[0]!, { message: 'after a concurrent start' })
    await waitFor(async () => (await sql!<{ status: string }[]>`select status from runs where id = ${runId}`)[0]?.status === 'completed', {
      timeoutMs: LONG,
      intervalMs: 100,
      what: 'the async run to complete',
    })
  })
})

describe('embedded mode as a process', () => {
  let procs: ProcessGroup
  let up: FakeUpstream
  let dataDir: string | undefined

  beforeEach(async (ctx) => {
    procs = createProcessGroup(ctx)
    up = await startFakeUpstream()
  })
  afterEach(async () => {
    await procs.stopAll()
    await up.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
    dataDir = undefined
  })

  it('a run in flight when the process is killed -9 reaches a terminal state after a restart on the same data folder', { timeout: 120_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ov-embedded-'))
    const env = {
      OPENVESPER_DATA_DIR: dataDir,
      OPENVESPER_TOKEN: TOKEN,
      OPENAI_BASE_URL: `${up.url}/v1`,
      OPENAI_API_KEY: 'sk-process-test',
      OPENVESPER_MODEL: 'openai/test',
      OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
      OPENVESPER_RUN_LEASE_MS: '2000',
      OPENVESPER_RECONCILE_INTERVAL_MS: '500',
      OPENVESPER_STALE_QUEUED_MS: '1000',
    }
    const message = `embedded ${randomBytes(4).toString('hex')}`
    up.setDefault((req) => (requestsFor(up, lastUserText(req)).length === 1 ? { hang: true } : { text: `recovered: ${lastUserText(req)}` }))

    const first = await procs.spawn({ role: 'all', name: 'embedded-1', env })
    await first.waitReady(LONG)
    const runId = await submitAsync(first, { message, sessionKey: 'embedded-session' })
    await waitFor(() => up.requests.length === 1, { timeoutMs: LONG, what: 'the run to call the upstream' })
    first.kill('SIGKILL')
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' })

    const second = await procs.spawn({ role: 'all', name: 'embedded-2', env })
    await second.waitReady(LONG)
    const run = await waitFor(
      async () => {
        const res = await fetch(`${second.url}/agent/run/${runId}`, { headers: { authorization: `Bearer ${TOKEN}` } })
        const body = (await res.json()) as { status: string; attempt: number; output: string | null; failureReason: string | null }
        return TERMINAL.includes(body.status) ? body : undefined
      },
      { timeoutMs: LONG, intervalMs: 200, what: 'the run to be terminal after the restart' },
    )
    expect(run).toMatchObject({ status: 'completed', attempt: 2, output: `recovered: ${message}`, failureReason: null })
    const sent = requestsFor(up, message)
    expect(sent).toHaveLength(2)
    expect((sent[1]!.body.messages as { role: string }[]).filter((m) => m.role === 'user')).toHaveLength(1)

    second.kill('SIGTERM')
    expect(await second.exited).toEqual({ code: 0, signal: null })

    // The data folder, read once the process is gone: events and transcript of the recovered run.
    const handle = createDb({ kind: 'pglite', dataDir })
    try {
      if (handle.driver.kind !== 'pglite') throw new Error('expected PGlite')
      const pg = handle.driver.pglite
      const events = await pg.query<{ type: string }>(`select type from run_events where run_id = $1 order by seq`, [runId])
      const types = events.rows.map((e) => e.type)
      expect(types.filter((t) => t === 'run.retrying')).toHaveLength(1)
      expect(types.filter((t) => t === 'run.completed')).toHaveLength(1)
      expect(types.at(-1)).toBe('run.completed')
      const transcript = await pg.query<{ role: string; text: string }>(
        `select m.role, m.content->>'text' as text from session_messages m join runs r on r.session_id = m.session_id where r.id = $1 order by m.seq`,
        [runId],
      )
      expect(transcript.rows).toEqual([
        { role: 'user', text: message },
        { role: 'assistant', text: `recovered: ${message}` },
      ])
      const running = await pg.query<{ n: number }>(`select count(*)::int as n from runs where status = 'running'`)
      expect(running.rows[0]!.n).toBe(0)
    } finally {
      await handle.close()
    }
  })
})
