import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient } from '@openvesper/client'
import { createTestDatabase, createTestRedis, type FakeUpstream, startFakeUpstream, type TestDatabase, type TestRedis, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, createProcessGroup, type GatewayProcess } from '../support/process.js'
import { readSse } from '../support/sse-client.js'

const TOKEN = 'ovk_e2e_client_token_0123456789'

/**
 * End to end: the built gateway as real processes, driven only through the client generated from
 * openapi/openapi.json, in both modes.
 */
describe.each(['embedded', 'server'] as const)('generated client against the built gateway (%s mode)', (mode) => {
  const group = createProcessGroup()
  let up: FakeUpstream
  let db: TestDatabase | undefined
  let redis: TestRedis | undefined
  let gateway: GatewayProcess

  beforeAll(async () => {
    assertBuilt()
    up = await startFakeUpstream()
    up.setDefault({ echo: true })
    const env: Record<string, string> = {
      OPENVESPER_TOKEN: TOKEN,
      OPENAI_BASE_URL: `${up.url}/v1`,
      OPENVESPER_MODEL: 'openai/e2e-model',
      OPENVESPER_LOG_LEVEL: 'warn',
    }
    if (mode === 'server') {
      db = await createTestDatabase()
      redis = await createTestRedis()
      Object.assign(env, { DATABASE_URL: db.url, REDIS_URL: redis.url, OPENVESPER_REDIS_PREFIX: redis.prefix })
      gateway = await group.spawn({ role: 'api', env, name: 'api' })
      const worker = await group.spawn({ role: 'worker', env: { ...env, OPENVESPER_LOG_LEVEL: 'info' }, name: 'worker' })
      await worker.waitReady()
    } else {
      env.OPENVESPER_DATA_DIR = mkdtempSync(join(tmpdir(), 'ov-e2e-'))
      gateway = await group.spawn({ role: 'all', env, name: 'all' })
    }
    await gateway.waitReady()
  }, 120_000)

  afterAll(async () => {
    await group.stopAll()
    await up?.close()
    await redis?.cleanup()
    await db?.drop()
  })

  it('runs sync, async + wait, status and abort through the typed client', async () => {
    const client = createOpenVesperClient({ baseUrl: gateway.url!, token: TOKEN })

    const sync = await client.POST('/agent', { body: { message: 'typed hello', sessionKey: 'e2e' } })
    expect(sync.response.status).toBe(200)
    expect(sync.data).toMatchObject({ status: 'completed', output: 'typed hello', sessionKey: 'e2e' })

    const accepted = await client.POST('/agent/async', { body: { message: 'typed async' }, params: { header: { 'idempotency-key': 'e2e-1' } } })
    expect(accepted.response.status).toBe(202)
    const runId = accepted.data!.runId
    const waited = await client.POST('/agent/run/{runId}/wait', { params: { path: { runId } }, body: { timeoutMs: 30_000 } })
    expect(waited.data).toMatchObject({ runId, status: 'completed', output: 'typed async', mode: 'async' })
    const got = await client.GET('/agent/run/{runId}', { params: { path: { runId } } })
    expect(got.data?.lastEventSeq).toBeGreaterThan(0)

    const again = await client.POST('/agent/async', { body: { message: 'typed async' }, params: { header: { 'idempotency-key': 'e2e-1' } } })
    expect(again.data?.runId).toBe(runId)

    // Executed by the worker process, streamed and aborted through the api process (Redis in server mode).
    up.enqueue({ text: 'one two three four five six seven eight', chunkDelayMs: 30 })
    const streamed = await client.POST('/agent/async', { body: { message: 'stream me from elsewhere' } })
    const sse = await readSse(`${gateway.url}/agent/run/${streamed.data!.runId}/events`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(
      sse.events
        .filter((e) => e.event === 'agent.text_delta')
        .map((e) => e.data.text)
        .join(''),
    ).toBe('one two three four five six seven eight')
    expect(sse.events.at(-1)?.event).toBe('run.completed')

    up.enqueue({ hang: true })
    const before = up.requests.length
    const slow = await client.POST('/agent/async', { body: { message: 'never' } })
    await waitFor(() => up.requests.length === before + 1, { what: 'the worker to call the upstream' })
    const aborted = await client.POST('/agent/run/{runId}/abort', { params: { path: { runId: slow.data!.runId } } })
    expect(aborted.data?.status).toBe('cancelled')
    // The process executing the run got the signal and stopped the upstream request.
    await waitFor(() => up.requests[before]!.aborted, { what: 'upstream request aborted by the executing process' })

    const bad = await client.POST('/agent', { body: { message: '' } })
    expect(bad.response.status).toBe(400)
    expect(bad.error).toMatchObject({ code: 'invalid_request', status: 400 })

    const anonymous = createOpenVesperClient({ baseUrl: gateway.url! })
    expect((await anonymous.GET('/agent/run/{runId}', { params: { path: { runId } } })).response.status).toBe(401)
    expect((await anonymous.GET('/health')).data).toEqual({ status: 'ok' })
  }, 120_000)
})
