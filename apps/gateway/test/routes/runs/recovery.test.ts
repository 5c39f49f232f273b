import { createRunsRepo, RUN_EXECUTE_JOB } from '@openvesper/core'
import { newId } from '@openvesper/shared'
import { createRun, type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../../support/helpers.js'

describe.each(MODES)('run recovery (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({
      mode,
      env: upstreamEnv(up, {
        OPENVESPER_STALE_QUEUED_MS: '300',
        OPENVESPER_RECONCILE_INTERVAL_MS: '200',
        OPENVESPER_RUN_LEASE_MS: '1000',
      }),
    })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })
  beforeEach(() => up.reset())

  const runStatus = async (runId: string) => (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: bearer(t.adminToken) })).json()

  it('picks up a run whose row was committed but whose job was never enqueued (crash between the two)', async () => {
    up.enqueue({ text: 'recovered' })
    // What a create request leaves behind when its process dies right after the commit.
    const { runId: id } = await createRun(t.runtime.db.db, { principalId: 'prn_admin', mode: 'async', message: 'lost before enqueue' })
    const run = await waitFor(
      async () => {
        const r = await runStatus(id)
        return r.status === 'completed' ? r : undefined
      },
      { timeoutMs: 20_000, what: 'reconciler to re-send the run' },
    )
    expect(run).toMatchObject({ output: 'recovered', attempt: 1 })
    expect(up.requests).toHaveLength(1)
  })

  it('discards a job whose run does not exist (enqueued, then the row never committed), with no side effect', async () => {
    const ghost = newId('run')
    await t.runtime.queue.enqueue(RUN_EXECUTE_JOB, { runId: ghost }, { jobId: ghost })
    // A real run queued after it: once it completed, the worker has long taken the ghost job too.
    up.enqueue({ text: 'real' })
    const { runId } = (await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'real' } })).json()
    await waitFor(async () => (await runStatus(runId)).status === 'completed', { timeoutMs: 20_000, what: 'real run' })
    expect(up.requests).toHaveLength(1)
    expect(await createRunsRepo(t.runtime.db.db).findById(ghost)).toBeUndefined()
    expect(await t.services.runs.executeQueued(ghost, 'wrk_test', new AbortController().signal)).toBe('skipped')
  })

  it('keeps the lease of a step that lasts three times the lease duration: one execution, attempt 1', async () => {
    up.enqueue({ text: 'slow but steady', delayMs: 3000 })
    const { runId } = (await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'slow step' } })).json()
    const done = await waitFor(
      async () => {
        const r = await runStatus(runId)
        return r.status === 'completed' ? r : undefined
      },
      { timeoutMs: 20_000, what: 'slow run to complete' },
    )
    expect(done).toMatchObject({ attempt: 1, output: 'slow but steady' })
    expect(up.requests).toHaveLength(1)
  })
})
