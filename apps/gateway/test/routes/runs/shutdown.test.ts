import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, type TestApp, upstreamEnv } from '../../support/helpers.js'

describe('stopping a gateway with inline runs in flight (server mode)', () => {
  let t: TestApp
  let up: FakeUpstream

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({ mode: 'server', env: upstreamEnv(up) })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })

  it('hands a streamed run back to the queue instead of leaving it running until its lease expires', async () => {
    up.setDefault({ hang: true })
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    const res = await fetch(`${base}/agent/stream`, {
      method: 'POST',
      headers: { ...bearer(t.adminToken), 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'in flight at shutdown' }),
    })
    const runId = res.headers.get('x-run-id')!
    await waitFor(() => up.requests.length === 1, { what: 'upstream called' })
    await t.app.close()
    await t.runtime.stop(2000)
    await waitFor(() => up.requests[0]!.aborted, { what: 'upstream request aborted' })
    const sql = postgres(t.databaseUrl!, { max: 1 })
    try {
      const [row] = await sql<
        { status: string; attempt: number; lease_owner: string | null }[]
      >`select status, attempt, lease_owner from runs where id = ${runId}`
      expect(row).toEqual({ status: 'queued', attempt: 1, lease_owner: null })
    } finally {
      await sql.end()
    }
  })
})
