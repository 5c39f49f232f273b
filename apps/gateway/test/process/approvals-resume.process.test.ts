import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient } from '@openvesper/client'
import { createTestDatabase, createTestRedis, type FakeUpstream, startFakeUpstream, type TestDatabase, type TestRedis, waitFor } from '@openvesper/testing'
import postgres from 'postgres'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createProcessGroup, type ProcessGroup } from '../support/process.js'

/**
 * Approval gates across real processes: a run paused at a gate holds no worker, survives a kill -9 of the worker that
 * paused it (still waiting, not lost, not approved), and resumes on another worker after a decision made on another
 * gateway; the tool runs exactly once.
 */

const TOKEN = `ovk_process_${randomBytes(12).toString('hex')}`
const LONG = 60_000

describe('approval gates as processes', () => {
  let procs: ProcessGroup
  let up: FakeUpstream
  let dir: string
  let database: TestDatabase | undefined
  let redis: TestRedis | undefined
  let sql: postgres.Sql | undefined

  beforeEach(async (ctx) => {
    procs = createProcessGroup(ctx)
    up = await startFakeUpstream()
    dir = await mkdtemp(join(tmpdir(), 'ov-approvals-proc-'))
    await writeFile(join(dir, 'rules.json'), JSON.stringify([{ match: { tool: 'current_time' }, action: 'ask' }]))
  })
  afterEach(async () => {
    await procs.stopAll()
    await sql?.end({ timeout: 5 })
    sql = undefined
    await up.close()
    await redis?.cleanup()
    redis = undefined
    await database?.drop()
    database = undefined
    await rm(dir, { recursive: true, force: true })
  })

  const baseEnv = () => ({
    OPENVESPER_TOKEN: TOKEN,
    OPENAI_BASE_URL: `${up.url}/v1`,
    OPENAI_API_KEY: 'sk-process-test',
    OPENVESPER_MODEL: 'openai/test',
    OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
    OPENVESPER_RUN_LEASE_MS: '2000',
    OPENVESPER_RECONCILE_INTERVAL_MS: '300',
    OPENVESPER_STALE_QUEUED_MS: '1000',
    OPENVESPER_APPROVAL_RULES: join(dir, 'rules.json'),
  })

  it('server mode: kill -9 of the worker while the run waits, decision on the other gateway, resumed by another worker', async () => {
    database = await createTestDatabase()
    redis = await createTestRedis()
    sql = postgres(database.url, { max: 2, onnotice: () => {} })
    const env = { ...baseEnv(), DATABASE_URL: database.url, REDIS_URL: redis.url, OPENVESPER_REDIS_PREFIX: redis.prefix, OPENVESPER_DB_POOL_MAX: '4' }
    const apiA = await procs.spawn({ role: 'api', name: 'api-a', env })
    const apiB = await procs.spawn({ role: 'api', name: 'api-b', env })
    const worker1 = await procs.spawn({ role: 'worker', name: 'worker-1', env })
    await Promise.all([apiA.waitReady(LONG), apiB.waitReady(LONG), worker1.waitReady(LONG)])
    const a = createOpenVesperClient({ baseUrl: apiA.url!, token: TOKEN })
    const b = createOpenVesperClient({ baseUrl: apiB.url!, token: TOKEN })

    // The rules were seeded from the file.
    const rules = await b.GET('/approvals/rules')
    expect(rules.data!.items).toMatchObject([{ index: 0, match: { tool: 'current_time' }, action: 'ask', source: 'config' }])

    up.enqueue({ toolCalls: [{ id: 'call_p', name: 'current_time', arguments: { timezone: 'UTC' } }] }, { text: 'resumed and done' })
    const started = await a.POST('/agent/async', { body: { message: 'what time is it?' } })
    const runId = started.data!.runId
    const status = async () => (await sql!`select status, lease_owner, attempt from runs where id = ${runId}`)[0]!
    await waitFor(async () => (await status()).status === 'awaiting_approval', { timeoutMs: LONG, what: 'the run to pause' })
    expect(await status()).toMatchObject({ lease_owner: null, attempt: 1 })
    const firstWorker = (await sql`select data->>'worker' as w from run_events where run_id = ${runId} and type = 'run.started' order by seq`)[0]!.w
    expect(firstWorker).toBe(worker1.workerId())

    worker1.kill('SIGKILL')
    expect(await worker1.exited).toMatchObject({ signal: 'SIGKILL' })
    // Several reconciler periods later (the api gateways host none, so start a fresh worker to run it): still waiting.
    const worker2 = await procs.spawn({ role: 'worker', name: 'worker-2', env })
    await worker2.waitReady(LONG)
    await new Promise((r) => setTimeout(r, 2500))
    expect(await status()).toMatchObject({ status: 'awaiting_approval', lease_owner: null })
    expect(await sql`select status from approvals where run_id = ${runId}`).toEqual([{ status: 'pending' }])
    expect(await sql`select 1 from tool_calls where run_id = ${runId}`).toHaveLength(0)
    expect(up.requests).toHaveLength(1)

    const [approval] = (await b.GET('/approvals/pending')).data!.items
    const decided = await b.POST('/approvals/{id}/decide', { params: { path: { id: approval!.id } }, body: { decision: 'allow' } })
    expect(decided.response.status, JSON.stringify(decided.error)).toBe(200)
    await waitFor(async () => (await status()).status === 'completed', { timeoutMs: LONG, what: 'the run to complete' })

    const workers = (await sql`select data->>'worker' as w from run_events where run_id = ${runId} and type = 'run.started' order by seq`).map((r) => r.w)
    expect(workers).toEqual([worker1.workerId(), worker2.workerId()])
    expect(await sql`select name, status from tool_calls where run_id = ${runId}`).toEqual([{ name: 'current_time', status: 'succeeded' }])
    expect(up.requests).toHaveLength(2)
    const toolMsgs = (up.requests[1]!.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'tool')
    expect(toolMsgs).toHaveLength(1)
    const run = await a.GET('/agent/run/{runId}', { params: { path: { runId } } })
    expect(run.data).toMatchObject({ status: 'completed', output: 'resumed and done', attempt: 2 })
  }, 120_000)

  it('embedded mode: kill -9 while the run waits, restart on the same data folder, decide, resumed once', async () => {
    const env = { ...baseEnv(), OPENVESPER_DATA_DIR: join(dir, 'data') }
    const first = await procs.spawn({ role: 'all', name: 'embedded-1', env })
    await first.waitReady(LONG)
    const c1 = createOpenVesperClient({ baseUrl: first.url!, token: TOKEN })
    up.enqueue({ toolCalls: [{ id: 'call_e', name: 'current_time', arguments: {} }] }, { text: 'embedded done' })
    const runId = (await c1.POST('/agent/async', { body: { message: 'time?' } })).data!.runId
    await waitFor(async () => (await c1.GET('/agent/run/{runId}', { params: { path: { runId } } })).data?.status === 'awaiting_approval', {
      timeoutMs: LONG,
      what: 'the run to pause',
    })
    first.kill('SIGKILL')
    await first.exited

    const second = await procs.spawn({ role: 'all', name: 'embedded-2', env })
    await second.waitReady(LONG)
    const c2 = createOpenVesperClient({ baseUrl: second.url!, token: TOKEN })
    await new Promise((r) => setTimeout(r, 1500))
    expect((await c2.GET('/agent/run/{runId}', { params: { path: { runId } } })).data).toMatchObject({ status: 'awaiting_approval' })
    expect(up.requests).toHaveLength(1)
    const approve = await c2.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: {} })
    expect(approve.response.status, JSON.stringify(approve.error)).toBe(200)
    const done = await waitFor(
      async () => {
        const r = (await c2.GET('/agent/run/{runId}', { params: { path: { runId } } })).data
        return r?.status === 'completed' ? r : undefined
      },
      { timeoutMs: LONG, what: 'the run to complete' },
    )
    expect(done).toMatchObject({ output: 'embedded done', attempt: 2 })
    expect(up.requests).toHaveLength(2)
    expect((up.requests[1]!.body.messages as { role: string }[]).filter((m) => m.role === 'tool')).toHaveLength(1)
  }, 120_000)
})
