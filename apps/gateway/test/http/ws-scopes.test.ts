import { hasScopes, SCOPES } from '@openvesper/access'
import { newId } from '@openvesper/shared'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unusedServices } from '../../src/openapi.js'
import { FEATURES, featureRpc } from '../../src/routes/index.js'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../support/helpers.js'
import { connectRpc } from '../support/ws-client.js'

/**
 * A03 over WebSocket: every JSON-RPC method × every scope. A token that holds the method's scope gets a result (the
 * call did what it says), one that does not gets -32003 naming the scope, and nothing happened. `runs:read` opens the
 * socket, so each token holds it besides the scope under test.
 */

const PRINCIPAL = 'prn_wsscopes'

describe.each(MODES)('every WebSocket method × every scope (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let wsUrl: string
  let writer: string

  beforeAll(async () => {
    up = await startFakeUpstream()
    up.setDefault({ hang: true })
    t = await buildTestApp({ mode, env: upstreamEnv(up) })
    wsUrl = `${(await t.app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws')}/ws`
    writer = await t.tokenWith(['runs:read', 'runs:write'], PRINCIPAL)
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })

  /** A running run of the principal (its provider call hangs until it is aborted). */
  const runningRun = async (): Promise<string> => {
    const res = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(writer), payload: { message: 'scoped' } })
    expect(res.statusCode).toBe(202)
    return res.json().runId
  }
  const statusOf = async (runId: string) => (await t.services.runs.getOwned({ id: PRINCIPAL }, runId)).status

  const methods = Object.entries(featureRpc(FEATURES, unusedServices())).map(([name, { method }]) => ({ name, scope: method.scope }))

  it('covers the run methods', () => {
    expect(methods.map((m) => m.name)).toEqual(expect.arrayContaining(['agent.run', 'run.subscribe', 'run.unsubscribe', 'run.get', 'run.abort']))
  })

  it('answers each call with a result when the token holds its scope and -32003 (nothing done) when it does not', async () => {
    let allowed = 0
    let refused = 0
    const started: string[] = []
    for (const scope of SCOPES) {
      const token = await t.tokenWith([...new Set(['runs:read', scope])], PRINCIPAL)
      const c = await connectRpc(wsUrl, bearer(token))
      for (const { name, scope: needed } of methods) {
        const runId = await runningRun()
        const paramsOf: Record<string, Record<string, unknown>> = {
          'agent.run': { message: `ws scope ${scope}` },
          'approval.decide': { approvalId: newId('approval'), decision: 'deny' },
          tool_approval: { verdicts: { call_none: 'deny' } },
        }
        const params = paramsOf[name] ?? { runId }
        const reply = await c.call(name, params)
        const where = `${name} with ${scope}`
        if (hasScopes(['runs:read', scope], [needed])) {
          // Past the scope check, deciding looks the approval up: an unknown one is not_found, never forbidden.
          if (name === 'approval.decide') expect(reply.error, where).toMatchObject({ code: -32004 })
          else expect(reply.error, `${where}: ${JSON.stringify(reply.error)}`).toBeUndefined()
          if (name === 'agent.run') {
            expect(String(reply.result!.runId)).toMatch(/^run_/)
            started.push(String(reply.result!.runId))
          }
          if (name === 'run.subscribe') expect(reply.result).toEqual({ runId, subscribed: true })
          if (name === 'run.unsubscribe') expect(reply.result).toEqual({ runId, subscribed: false })
          if (name === 'run.get') expect(reply.result).toMatchObject({ runId })
          // No followed run has a pending call of that id: the verdict is answered, deciding nothing.
          if (name === 'tool_approval') expect(reply.result).toEqual({ results: [expect.objectContaining({ tool_call_id: 'call_none' })] })
          if (name === 'run.abort') {
            expect(reply.result).toMatchObject({ runId, status: 'cancelled' })
            expect(await statusOf(runId)).toBe('cancelled')
          }
          allowed++
        } else {
          expect(reply.error, where).toMatchObject({ code: -32003, data: { code: 'forbidden', scope: needed } })
          if (name === 'run.abort') expect(await statusOf(runId)).not.toBe('cancelled')
          if (name === 'agent.run') {
            await new Promise((r) => setTimeout(r, 100))
            expect(
              up.requests.some((r) => JSON.stringify(r.body).includes(`ws scope ${scope}`)),
              where,
            ).toBe(false)
          }
          refused++
        }
        await t.app.inject({ method: 'POST', url: `/agent/run/${runId}/abort`, headers: bearer(writer) })
      }
      c.close()
    }
    for (const id of started) await t.app.inject({ method: 'POST', url: `/agent/run/${id}/abort`, headers: bearer(writer) })
    expect(allowed).toBeGreaterThan(0)
    expect(refused).toBeGreaterThan(0)
  }, 60_000)
})
