import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { createTestDatabase, createTestRedis, type FakeUpstream, startFakeUpstream, type TestDatabase, type TestRedis, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, createProcessGroup, type GatewayProcess } from '../support/process.js'

const TOKEN = 'ovk_e2e_session_queue_token_0123456789'

/**
 * A busy session's queue as deployed: two api processes take messages for one session, two worker processes run
 * them. The database orders everything (no process holds the queue), so the turns run once each, in arrival order,
 * and killing every worker with messages waiting loses none of them.
 */
describe('a session queue across two gateways and two workers (server mode)', () => {
  const group = createProcessGroup()
  let up: FakeUpstream
  let db: TestDatabase
  let redis: TestRedis
  let env: Record<string, string>
  let apis: OpenVesperClient[]
  let workers: GatewayProcess[]

  beforeAll(async () => {
    assertBuilt()
    up = await startFakeUpstream()
    up.setDefault({ echo: true, delayMs: 20 })
    db = await createTestDatabase()
    redis = await createTestRedis()
    env = {
      OPENVESPER_TOKEN: TOKEN,
      OPENAI_BASE_URL: `${up.url}/v1`,
      OPENVESPER_MODEL: 'openai/e2e-model',
      OPENVESPER_LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      OPENVESPER_REDIS_PREFIX: redis.prefix,
      OPENVESPER_SESSION_QUEUE_CAP: '100',
      OPENVESPER_RUN_LEASE_MS: '2000',
      OPENVESPER_RECONCILE_INTERVAL_MS: '300',
    }
    const procs = await Promise.all([
      group.spawn({ role: 'api', env, name: 'api-1' }),
      group.spawn({ role: 'api', env, name: 'api-2' }),
      group.spawn({ role: 'worker', env, name: 'worker-1' }),
      group.spawn({ role: 'worker', env, name: 'worker-2' }),
    ])
    await Promise.all(procs.map((p) => p.waitReady()))
    apis = procs.slice(0, 2).map((p) => createOpenVesperClient({ baseUrl: p.url!, token: TOKEN }))
    workers = procs.slice(2)
  }, 120_000)

  afterAll(async () => {
    await group.stopAll()
    await up?.close()
    await redis?.cleanup()
    await db?.drop()
  })

  const send = async (client: OpenVesperClient, message: string, sessionKey: string) => {
    const res = await client.POST('/agent/async', { body: { message, sessionKey } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(202)
    return res.data!.runId
  }
  const waitEnded = async (runId: string) => {
    const res = await apis[0]!.POST('/agent/run/{runId}/wait', { params: { path: { runId } }, body: { timeoutMs: 60_000 } })
    return res.data!
  }
  const userTurnsSent = (sessionMarker: string) =>
    up.requests
      .map((r) => r.body.messages.filter((m: { role: string }) => m.role === 'user').at(-1)?.content as string)
      .filter((m) => m?.startsWith(sessionMarker))
  const transcript = async (key: string) =>
    (await apis[1]!.GET('/sessions/{key}/messages', { params: { path: { key }, query: { limit: 200 } } })).data!.items.map((m) => [m.role, m.content.text])

  it('50 messages through two gateways run once each, in arrival order, with the transcript in order', async () => {
    const key = 'busy-session'
    const messages = Array.from({ length: 50 }, (_, i) => `q${String(i).padStart(2, '0')}`)
    const runIds: string[] = []
    for (const [i, m] of messages.entries()) runIds.push(await send(apis[i % 2]!, m, key))
    expect(new Set(runIds).size).toBe(50)
    const ended = await Promise.all(runIds.map(waitEnded))
    expect(ended.map((r) => r.status)).toEqual(messages.map(() => 'completed'))
    expect(userTurnsSent('q')).toEqual(messages)
    expect(await transcript(key)).toEqual(
      messages.flatMap((m) => [
        ['user', m],
        ['assistant', m],
      ]),
    )
  }, 120_000)

  it('every worker killed (SIGKILL) with messages waiting: a new worker runs them all, in order', async () => {
    const key = 'killed-workers'
    up.enqueue({ hang: true })
    const before = up.requests.length
    const first = await send(apis[0]!, 'k-first', key)
    await waitFor(() => up.requests.length > before, { what: 'the first run calls the model' })
    const waiting = [await send(apis[1]!, 'k1', key), await send(apis[0]!, 'k2', key), await send(apis[1]!, 'k3', key)]
    for (const w of workers) w.kill('SIGKILL')
    await Promise.all(workers.map((w) => w.exited))
    const fresh = await group.spawn({ role: 'worker', env, name: 'worker-3' })
    await fresh.waitReady()
    // The first run's lease expires; the reconciler gives it another attempt, then the waiting ones run.
    expect((await waitEnded(first)).status).toBe('completed')
    for (const id of waiting) expect((await waitEnded(id)).status).toBe('completed')
    expect(userTurnsSent('k')).toEqual(['k-first', 'k-first', 'k1', 'k2', 'k3'])
    expect((await transcript(key)).filter(([role]) => role === 'user')).toEqual([
      ['user', 'k-first'],
      ['user', 'k1'],
      ['user', 'k2'],
      ['user', 'k3'],
    ])
  }, 120_000)
})
