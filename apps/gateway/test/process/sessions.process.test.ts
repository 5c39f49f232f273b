import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { createTestDatabase, createTestRedis, type FakeUpstream, startFakeUpstream, type TestDatabase, type TestRedis } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, createProcessGroup } from '../support/process.js'

const TOKEN = 'ovk_e2e_sessions_token_0123456789'

/**
 * Server mode as deployed: an api process and a worker process on one Postgres and Redis. Runs in a session execute
 * in the worker, the session routes answer from the api, and a reset made through the api holds for the worker.
 */
describe('sessions across an api and a worker process (server mode)', () => {
  const group = createProcessGroup()
  let up: FakeUpstream
  let db: TestDatabase
  let redis: TestRedis
  let client: OpenVesperClient

  beforeAll(async () => {
    assertBuilt()
    up = await startFakeUpstream()
    up.setDefault({ echo: true })
    db = await createTestDatabase()
    redis = await createTestRedis()
    const env = {
      OPENVESPER_TOKEN: TOKEN,
      OPENAI_BASE_URL: `${up.url}/v1`,
      OPENVESPER_MODEL: 'openai/e2e-model',
      OPENVESPER_LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      OPENVESPER_REDIS_PREFIX: redis.prefix,
    }
    const api = await group.spawn({ role: 'api', env, name: 'api' })
    const worker = await group.spawn({ role: 'worker', env: { ...env, OPENVESPER_LOG_LEVEL: 'info' }, name: 'worker' })
    await Promise.all([api.waitReady(), worker.waitReady()])
    client = createOpenVesperClient({ baseUrl: api.url!, token: TOKEN })
  }, 120_000)

  afterAll(async () => {
    await group.stopAll()
    await up?.close()
    await redis?.cleanup()
    await db?.drop()
  })

  const queued = async (message: string, sessionKey: string) => {
    const accepted = await client.POST('/agent/async', { body: { message, sessionKey } })
    const runId = accepted.data!.runId
    const waited = await client.POST('/agent/run/{runId}/wait', { params: { path: { runId } }, body: { timeoutMs: 30_000 } })
    expect(waited.data?.status).toBe('completed')
  }
  const sent = () => up.requests.at(-1)!.body.messages.map((m: { content: string }) => m.content)

  it('keeps the transcript, hides it from the worker after a reset and keeps it readable', async () => {
    const key = 'e2e 🙂/session'
    await queued('first', key)
    await queued('second', key)
    expect(sent()).toEqual(['first', 'first', 'second'])
    expect((await client.GET('/sessions/{key}', { params: { path: { key } } })).data).toMatchObject({ key, messageCount: 4, activeRunId: null })

    expect((await client.POST('/sessions/{key}/reset', { params: { path: { key } } })).data).toMatchObject({ epoch: 1 })
    await queued('third', key)
    expect(sent()).toEqual(['third'])
    const transcript = (await client.GET('/sessions/{key}/messages', { params: { path: { key } } })).data!.items
    expect(transcript.map((m) => [m.content.text, m.beforeReset])).toEqual([
      ['first', true],
      ['first', true],
      ['second', true],
      ['second', true],
      ['third', false],
      ['third', false],
    ])

    const forked = await client.POST('/sessions/{key}/fork', { params: { path: { key } }, body: { key: `${key} fork` } })
    expect(forked.response.status).toBe(201)
    await queued('fourth', `${key} fork`)
    expect(sent()).toEqual(['third', 'third', 'fourth'])
    expect((await client.GET('/sessions/{key}', { params: { path: { key } } })).data!.messageCount).toBe(6)
  }, 120_000)
})
