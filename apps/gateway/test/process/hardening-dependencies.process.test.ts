import { randomBytes } from 'node:crypto'
import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProcessGroup, type GatewayProcess, type ProcessGroup } from '../support/process.js'
import { type PrivatePostgres, type PrivateRedis, startPrivatePostgres, startPrivateRedis } from '../support/private-services.js'

/**
 * Dependency failure through the gateway (issue 15, A38/A39): the built `api` gateway and a `worker` as real processes
 * on a PRIVATE Postgres and a PRIVATE Redis that this file starts, restarts and kills (never the machine's own).
 *
 * Per route, what a client sees while a dependency is down:
 * - POST /agent/async: 202 when the run row was stored (accepted durably: a run whose job did not reach Redis is
 *   enqueued again by the reconciler), else 503 `unavailable`; never a 500, never a hang.
 * Afterwards every accepted run completes exactly once, without restarting a process. A request that finds
 * Postgres down is a 503 `unavailable` naming no host (http/errors.ts `isDependencyOutage`).
 */

const TOKEN = `ovk_deps_${randomBytes(12).toString('hex')}`
/** Longest a request may take while a dependency is down: it fails fast or succeeds, it never hangs. */
const MAX_REQUEST_MS = 10_000

interface Outcome {
  status: number | string
  ms: number
  body: string
  runId?: string
}

describe('dependency failure through real gateway and worker processes (server mode, private Postgres and Redis)', () => {
  let pg: PrivatePostgres
  let redis: PrivateRedis
  let procs: ProcessGroup
  let up: FakeUpstream
  let api: GatewayProcess
  let sql: postgres.Sql

  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    OPENVESPER_REDIS_PREFIX: 'ovdeps',
    OPENVESPER_TOKEN: TOKEN,
    OPENAI_BASE_URL: `${up.url}/v1`,
    OPENAI_API_KEY: 'sk-deps-test',
    OPENVESPER_MODEL: 'openai/test',
    OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
    OPENVESPER_DB_POOL_MAX: '5',
    OPENVESPER_RECONCILE_INTERVAL_MS: '500',
    OPENVESPER_STALE_QUEUED_MS: '1500',
    OPENVESPER_RATE_LIMIT: '1000000',
    ...extra,
  })

  beforeAll(async () => {
    ;[pg, redis, up] = await Promise.all([startPrivatePostgres(), startPrivateRedis(), startFakeUpstream()])
    up.setDefault({ text: 'done', delayMs: 30 })
    procs = createProcessGroup()
    api = await procs.spawn({ role: 'api', env: env(), name: 'api' })
    await api.waitReady()
    const worker = await procs.spawn({ role: 'worker', env: env(), name: 'worker' })
    await worker.waitReady()
    sql = postgres(pg.url, { max: 2, onnotice: () => {} })
  }, 120_000)

  afterAll(async () => {
    await sql?.end({ timeout: 2 }).catch(() => {})
    if (procs) {
      try {
        await procs.stopAll()
      } catch (err) {
        console.error(procs.dump())
        throw err
      }
    }
    await up?.close()
    await redis?.destroy()
    await pg?.destroy()
  }, 60_000)

  async function submit(message: string): Promise<Outcome> {
    const started = Date.now()
    try {
      const res = await fetch(`${api.url}/agent/async`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message }),
        signal: AbortSignal.timeout(MAX_REQUEST_MS + 5000),
      })
      const body = await res.text()
      const runId = res.status === 202 ? (JSON.parse(body) as { runId: string }).runId : undefined
      return { status: res.status, ms: Date.now() - started, body, runId }
    } catch (err) {
      return { status: (err as Error).name, ms: Date.now() - started, body: String(err) }
    }
  }

  /** Submits runs 4 at a time while `disrupt` runs, and for 1.5 s after it. */
  async function underLoad(label: string, disrupt: () => Promise<void>): Promise<Outcome[]> {
    const outcomes: Outcome[] = []
    let stop = false
    let n = 0
    const lanes = Array.from({ length: 4 }, async () => {
      while (!stop) outcomes.push(await submit(`${label} ${n++}`))
    })
    await new Promise((r) => setTimeout(r, 500))
    await disrupt()
    await new Promise((r) => setTimeout(r, 1500))
    stop = true
    await Promise.all(lanes)
    return outcomes
  }

  function expectFailFastAndClean(outcomes: Outcome[], label: string): void {
    expect(outcomes.length, label).toBeGreaterThan(4)
    for (const o of outcomes) {
      const where = `${label}: ${o.status} after ${o.ms} ms: ${o.body.slice(0, 300)}`
      expect([202, 503], where).toContain(o.status)
      expect(o.ms, where).toBeLessThan(MAX_REQUEST_MS)
      if (o.status === 503) {
        expect(JSON.parse(o.body), where).toMatchObject({ code: 'unavailable', status: 503 })
        // No internal host, address, port or driver error reaches the client.
        for (const leak of ['127.0.0.1', 'localhost', String(pg.port), String(redis.port), 'ECONN', 'postgres', 'redis', 'ioredis'])
          expect(o.body.toLowerCase(), `${where} mentions ${leak}`).not.toContain(leak.toLowerCase())
      }
    }
  }

  /** Every accepted run ends completed, with exactly one terminal event, and the provider was asked once for it. */
  async function expectEveryAcceptedRunCompletedOnce(outcomes: Outcome[]): Promise<void> {
    const ids = outcomes.flatMap((o) => (o.runId ? [o.runId] : []))
    expect(ids.length).toBeGreaterThan(0)
    await waitFor(
      async () => {
        const rows = await sql<{ n: string }[]>`select count(*) as n from runs where id = any(${ids}) and status = 'completed'`
        return Number(rows[0]!.n) === ids.length
      },
      { timeoutMs: 45_000, intervalMs: 250, what: `all ${ids.length} accepted runs completed` },
    )
    const terminals = await sql<{ run_id: string; n: string }[]>`
      select run_id, count(*) as n from run_events where run_id = any(${ids}) and type in ('run.completed', 'run.failed', 'run.cancelled') group by run_id`
    expect(terminals.length).toBe(ids.length)
    expect(terminals.every((t) => Number(t.n) === 1)).toBe(true)
  }

  it('warns loudly at start when Redis would evict queue keys, and not when the policy is noeviction', async () => {
    expect(api.logs().some((l) => typeof l.msg === 'string' && /EVICTION POLICY/.test(l.msg))).toBe(false)
    const evicting = await startPrivateRedis({ maxmemoryPolicy: 'allkeys-lru' })
    try {
      const other = await procs.spawn({ role: 'api', env: env({ REDIS_URL: evicting.url, OPENVESPER_DB_MIGRATE: 'false' }), name: 'api-evicting' })
      const line = await other.waitForLog(/REDIS EVICTION POLICY IS allkeys-lru/, 30_000)
      expect(line.level).toBe(40)
      expect(line.maxmemoryPolicy).toBe('allkeys-lru')
      other.kill('SIGKILL')
      await other.exited
    } finally {
      await evicting.destroy()
    }
  }, 60_000)

  it('Redis killed and restarted under load: requests fail fast (503) or are accepted durably, and every accepted run completes once', async () => {
    const outcomes = await underLoad('redis', () => redis.restart())
    expectFailFastAndClean(outcomes, 'redis restart')
    await expectEveryAcceptedRunCompletedOnce(outcomes)
    // Recovered without a process restart.
    const after = await submit('after the redis restart')
    expect(after.status).toBe(202)
    await expectEveryAcceptedRunCompletedOnce([after])
    expect(api.exit).toBeUndefined()
  }, 90_000)
})
