import { createHash } from 'node:crypto'
import type { OpenVesperClient } from '@openvesper/client'
import { rawSql } from '@openvesper/db'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { buildTestApp, MODES, type TestApp } from '../../support/helpers.js'
import { type ApprovalsFixture, ledger, setRules, startApprovalsFixture, toolMessages, waitStatus } from './fixture.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const ASK_TIME = [{ match: { tool: 'current_time' }, action: 'ask' as const }]

/** Approval gates end to end through the generated client, in both modes. */
describe.each(MODES)('approval gates (%s mode)', (mode) => {
  let f: ApprovalsFixture
  /** The run owner: starts runs, cannot decide. */
  let owner: OpenVesperClient
  /** The same principal with approvals:write. */
  let approver: OpenVesperClient
  let principalId: string

  beforeAll(async () => {
    f = await startApprovalsFixture(mode)
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    f.up.reset()
    await setRules(f.admin, ASK_TIME)
    principalId = `prn_t${Math.random().toString(36).slice(2, 12)}`
    owner = f.client(await f.token(['runs:read', 'runs:write', 'approvals:read'], principalId))
    approver = f.client(await f.token(['runs:read', 'approvals:read', 'approvals:write'], principalId))
  })

  const startGated = async (args: Record<string, unknown> = { timezone: 'UTC' }, id = 'call_1') => {
    f.up.enqueue({ toolCalls: [{ id, name: 'current_time', arguments: args }] }, { text: 'It is now.' })
    const res = await owner.POST('/agent/async', { body: { message: 'what time is it?' } })
    expect(res.response.status).toBe(202)
    const runId = res.data!.runId
    await waitStatus(owner, runId, 'awaiting_approval')
    return runId
  }
  const pendingOf = async (c: OpenVesperClient, runId: string) => {
    const res = await c.GET('/approvals/pending')
    expect(res.response.status).toBe(200)
    return res.data!.items.filter((a) => a.runId === runId)
  }

  it('pauses an ask call without running it, resumes on approval and runs the tool exactly once', async () => {
    const runId = await startGated()
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(0)
    expect(f.up.requests).toHaveLength(1)
    const [a] = await pendingOf(owner, runId)
    expect(a).toMatchObject({ toolName: 'current_time', toolCallId: 'call_1', step: 0, status: 'pending', argsHash: sha(a!.arguments) })
    expect(JSON.parse(a!.arguments)).toEqual({ timezone: 'UTC' })
    // The waiting run holds no lease.
    const row = await f.t.runtime.services.runs.getOwned({ id: principalId }, runId)
    expect(row).toMatchObject({ status: 'awaiting_approval', leaseOwner: null, leaseExpiresAt: null })

    // runs:write does not decide.
    const refused = await owner.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    expect(refused.response.status).toBe(403)
    expect(refused.error).toMatchObject({ code: 'forbidden' })

    const ok = await approver.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    expect(ok.response.status, JSON.stringify(ok.error)).toBe(200)
    expect(ok.data).toMatchObject({ approval: { status: 'allowed', decidedBy: principalId }, resumed: true })
    const done = await waitStatus(owner, runId, 'completed')
    expect(done.output).toBe('It is now.')
    const rows = await ledger(f.t.runtime.db.db, runId)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ name: 'current_time', status: 'succeeded', argsHash: a!.argsHash })
    expect(f.up.requests).toHaveLength(2)
    const tool = toolMessages(f.up.requests[1]!)
    expect(tool).toHaveLength(1)
    expect(JSON.parse(tool[0]!.content).utc).toMatch(/^\d{4}-/)
    expect(await pendingOf(owner, runId)).toHaveLength(0)
  })

  it('emits agent.tool_request with the approval id, then approval.requested and approval.resolved', async () => {
    const runId = await startGated()
    const [a] = await pendingOf(owner, runId)
    await approver.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    await waitStatus(owner, runId, 'completed')
    const rows = await rawSql(f.t.runtime.db.db).query<{ type: string; data: Record<string, unknown> }>(
      'select type, data from run_events where run_id = $1 order by seq',
      [runId],
    )
    const types = rows.map((r) => r.type)
    expect(types.filter((t) => t === 'agent.tool_request')).toHaveLength(1)
    const request = rows.find((r) => r.type === 'agent.tool_request')!
    expect(request.data).toMatchObject({ approval_required: true, tool_calls: [{ id: 'call_1', name: 'current_time', approval_id: a!.id }] })
    expect(types.indexOf('approval.requested')).toBeGreaterThan(types.indexOf('agent.tool_request'))
    expect(types.indexOf('approval.resolved')).toBeGreaterThan(types.indexOf('approval.requested'))
    expect(types.filter((t) => t === 'run.started')).toHaveLength(2) // the first attempt and the resumed one
    expect(types.at(-1)).toBe('run.completed')
    expect(rows.find((r) => r.type === 'approval.resolved')!.data).toMatchObject({ approval_id: a!.id, status: 'allowed' })
  })

  it('a sync run answers awaiting_approval; deny tells the model, which goes on, and nothing runs', async () => {
    f.up.enqueue({ toolCalls: [{ id: 'call_s', name: 'current_time', arguments: {} }] }, { text: 'I could not check.' })
    const res = await owner.POST('/agent', { body: { message: 'time?' } })
    expect(res.response.status).toBe(200)
    expect(res.data).toMatchObject({ status: 'awaiting_approval' })
    const runId = res.data!.runId
    const deny = await approver.POST('/runs/{runId}/deny', { params: { path: { runId } }, body: { reason: 'not now' } })
    expect(deny.response.status, JSON.stringify(deny.error)).toBe(200)
    expect(deny.data!.approvals).toHaveLength(1)
    expect(deny.data!.approvals[0]).toMatchObject({ status: 'denied', reason: 'not now' })
    const done = await waitStatus(owner, runId, 'completed')
    expect(done.output).toBe('I could not check.')
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(0)
    const tool = toolMessages(f.up.requests[1]!)
    expect(tool[0]!.content).toMatch(/refused: denied by the approver: not now/)
  })

  it('POST /runs/:runId/approve resumes; /resume is a 409 while a decision is pending and when the run is not waiting', async () => {
    const runId = await startGated()
    const early = await approver.POST('/runs/{runId}/resume', { params: { path: { runId } } })
    expect(early.response.status).toBe(409)
    const wrongCall = await approver.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: { toolCallId: 'call_other' } })
    expect(wrongCall.response.status).toBe(404)
    const ok = await approver.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: {} })
    expect(ok.response.status, JSON.stringify(ok.error)).toBe(200)
    expect(ok.data!.approvals[0]).toMatchObject({ status: 'allowed', toolCallId: 'call_1' })
    await waitStatus(owner, runId, 'completed')
    const again = await approver.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: {} })
    expect(again.response.status).toBe(409)
    const late = await approver.POST('/runs/{runId}/resume', { params: { path: { runId } } })
    expect(late.response.status).toBe(409)
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(1)
  })

  it('two concurrent deciders (allow and deny): exactly one outcome, the other 409 naming it', async () => {
    const runId = await startGated()
    const [a] = await pendingOf(owner, runId)
    const path = { params: { path: { id: a!.id } } }
    const [x, y] = await Promise.all([
      approver.POST('/approvals/{id}/decide', { ...path, body: { decision: 'allow' } }),
      approver.POST('/approvals/{id}/decide', { ...path, body: { decision: 'deny' } }),
    ])
    const statuses = [x.response.status, y.response.status].sort()
    expect(statuses).toEqual([200, 409])
    const winner = x.response.status === 200 ? x : y
    const loser = x.response.status === 200 ? y : x
    expect(loser.error).toMatchObject({ code: 'approval_decided', status: 409, outcome: winner.data!.approval.status })
    await waitStatus(owner, runId, 'completed')
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(winner.data!.approval.status === 'allowed' ? 1 : 0)
  })

  it('an approval is bound to its arguments: a decision for another hash is refused, and new arguments ask again', async () => {
    const runId = await startGated({ timezone: 'UTC' })
    const [a] = await pendingOf(owner, runId)
    const tampered = await approver.POST('/approvals/{id}/decide', {
      params: { path: { id: a!.id } },
      body: { decision: 'allow', argsHash: sha('{"timezone":"Europe/Paris"}') },
    })
    expect(tampered.response.status).toBe(409)
    expect((await pendingOf(owner, runId))[0]!.status).toBe('pending')
    // Approved; the model then calls the same tool with other arguments: that needs its own approval.
    f.up.reset()
    f.up.enqueue({ toolCalls: [{ id: 'call_2', name: 'current_time', arguments: { timezone: 'Asia/Tokyo' } }] }, { text: 'done' })
    const ok = await approver.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow', argsHash: a!.argsHash } })
    expect(ok.response.status).toBe(200)
    await waitFor2(async () => (await pendingOf(owner, runId)).find((p) => p.toolCallId === 'call_2'))
    const [b] = await pendingOf(owner, runId)
    expect(b).toMatchObject({ toolCallId: 'call_2', step: 1 })
    expect(b!.id).not.toBe(a!.id)
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(1) // only the approved call ran
    await approver.POST('/approvals/{id}/decide', { params: { path: { id: b!.id } }, body: { decision: 'deny' } })
    await waitStatus(owner, runId, 'completed')
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(1)
  })

  it('remember: true adds the rule first, and the next call of the tool runs without asking', async () => {
    const runId = await startGated()
    const [a] = await pendingOf(owner, runId)
    const ok = await approver.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow', remember: true } })
    expect(ok.data!.rule).toMatchObject({ index: 0, action: 'allow', source: 'remember', match: { tool: 'current_time', agent: 'main' } })
    await waitStatus(owner, runId, 'completed')
    const rules = await f.admin.GET('/approvals/rules')
    expect(rules.data!.items.map((r) => r.action)).toEqual(['allow', 'ask'])
    f.up.reset()
    f.up.enqueue({ toolCalls: [{ id: 'c', name: 'current_time', arguments: {} }] }, { text: 'fine' })
    const next = await owner.POST('/agent', { body: { message: 'again' } })
    expect(next.data).toMatchObject({ status: 'completed', output: 'fine' })
    // Another agent is not covered by the remembered rule.
    f.up.enqueue({ toolCalls: [{ id: 'c', name: 'current_time', arguments: {} }] }, { text: 'x' })
    const other = await owner.POST('/agent', { body: { message: 'again', agent: 'other' } })
    expect(other.data).toMatchObject({ status: 'awaiting_approval' })
    await owner.POST('/agent/run/{runId}/abort', { params: { path: { runId: other.data!.runId } } })
  })

  it('a deny rule refuses the call without pausing; allow by default runs it', async () => {
    await setRules(f.admin, [{ match: { tool: 'current_time', args: { timezone: 'Mars/*' } }, action: 'deny', reason: 'no such planet' }])
    f.up.enqueue({ toolCalls: [{ id: 'd', name: 'current_time', arguments: { timezone: 'Mars/Olympus' } }] }, { text: 'ok' })
    const res = await owner.POST('/agent', { body: { message: 'mars time' } })
    expect(res.data).toMatchObject({ status: 'completed' })
    expect(toolMessages(f.up.requests[1]!)[0]!.content).toMatch(/refused: no such planet/)
    expect(await ledger(f.t.runtime.db.db, res.data!.runId)).toHaveLength(0)
    f.up.enqueue({ toolCalls: [{ id: 'e', name: 'current_time', arguments: { timezone: 'UTC' } }] }, { text: 'ok' })
    const res2 = await owner.POST('/agent', { body: { message: 'utc time' } })
    expect(res2.data).toMatchObject({ status: 'completed' })
    expect(await ledger(f.t.runtime.db.db, res2.data!.runId)).toHaveLength(1)
  })

  it('aborting a waiting run cancels its approval', async () => {
    const runId = await startGated()
    const [a] = await pendingOf(owner, runId)
    const abort = await owner.POST('/agent/run/{runId}/abort', { params: { path: { runId } } })
    expect(abort.data).toMatchObject({ status: 'cancelled' })
    expect(await pendingOf(owner, runId)).toHaveLength(0)
    const late = await approver.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    expect(late.response.status).toBe(409)
    expect(late.error).toMatchObject({ code: 'approval_decided', outcome: 'cancelled' })
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(0)
  })

  it("isolates principals: another principal's approval is a 404 and never listed; an admin sees it", async () => {
    const runId = await startGated()
    const [a] = await pendingOf(owner, runId)
    const stranger = f.client(await f.token(['runs:read', 'runs:write', 'approvals:read', 'approvals:write']))
    expect(await pendingOf(stranger, runId)).toHaveLength(0)
    const dec = await stranger.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    expect(dec.response.status).toBe(404)
    const byRun = await stranger.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: {} })
    expect(byRun.response.status).toBe(404)
    expect((await pendingOf(f.admin, runId)).map((p) => p.id)).toEqual([a!.id])
    expect((await pendingOf(owner, runId))[0]!.status).toBe('pending')
    await owner.POST('/agent/run/{runId}/abort', { params: { path: { runId } } })
  })

  it('rules: CRUD in order, admin only to change, 400/403/404 problems', async () => {
    await setRules(f.admin, [])
    const a = await f.admin.POST('/approvals/rules', { body: { match: { tool: 'a_*' }, action: 'deny' } })
    const b = await f.admin.POST('/approvals/rules', { body: { match: { tool: 'b_*' }, action: 'ask' } })
    const c = await f.admin.POST('/approvals/rules', { body: { match: { risk: 'high' }, action: 'ask', index: 0 } })
    expect([a.data!.index, b.data!.index, c.data!.index]).toEqual([0, 1, 0])
    const list = await owner.GET('/approvals/rules')
    expect(list.data!.items.map((r) => [r.index, r.match])).toEqual([
      [0, { risk: 'high' }],
      [1, { tool: 'a_*' }],
      [2, { tool: 'b_*' }],
    ])
    expect(list.data!.defaultAction).toBe('allow')
    const del = await f.admin.DELETE('/approvals/rules/{index}', { params: { path: { index: 1 } } })
    expect(del.response.status).toBe(204)
    expect((await owner.GET('/approvals/rules')).data!.items.map((r) => r.match.tool ?? r.match.risk)).toEqual(['high', 'b_*'])
    const missing = await f.admin.DELETE('/approvals/rules/{index}', { params: { path: { index: 7 } } })
    expect(missing.response.status).toBe(404)
    expect(missing.error).toMatchObject({ code: 'not_found' })
    const notAdmin = await approver.POST('/approvals/rules', { body: { match: {}, action: 'allow' } })
    expect(notAdmin.response.status).toBe(403)
    const bad = await f.admin.POST('/approvals/rules', { body: { match: { tool: 'x', bogus: 1 } as never, action: 'allow' } })
    expect(bad.response.status).toBe(400)
    expect(bad.error).toMatchObject({ code: 'invalid_request' })
    const badAction = await f.admin.POST('/approvals/rules', { body: { match: {}, action: 'maybe' as never } })
    expect(badAction.response.status).toBe(400)
    const noToken = await fetch(`${f.base}/approvals/pending`)
    expect(noToken.status).toBe(401)
    const badId = await approver.POST('/approvals/{id}/decide', { params: { path: { id: 'apr_../x' } }, body: { decision: 'allow' } })
    expect(badId.response.status).toBe(400)
    const unknown = await approver.POST('/approvals/{id}/decide', { params: { path: { id: 'apr_0000000000000000' } }, body: { decision: 'allow' } })
    expect(unknown.response.status).toBe(404)
    const badCursor = await owner.GET('/approvals/pending', { params: { query: { cursor: 'bm9wZQ' } } })
    expect(badCursor.response.status).toBe(400)
  })

  it('pages the pending list with a cursor', async () => {
    // Every model call asks for the tool: each run pauses at its first step.
    f.up.setDefault({ toolCalls: [{ id: 'call_p', name: 'current_time', arguments: {} }] })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await owner.POST('/agent/async', { body: { message: `page ${i}` } })
      ids.push(res.data!.runId)
      await waitStatus(owner, res.data!.runId, 'awaiting_approval')
    }
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await owner.GET('/approvals/pending', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } })
      expect(page.data!.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.data!.items.map((a) => a.runId))
      cursor = page.data!.nextCursor ?? undefined
    } while (cursor)
    expect(seen.sort()).toEqual([...ids].sort())
    for (const runId of ids) await owner.POST('/agent/run/{runId}/abort', { params: { path: { runId } } })
  })
})

/** Small local poll (the fixture's waitFor needs an import of the testing package). */
async function waitFor2<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Server mode: the decision on one gateway, the run paused on the other, resumed by whichever worker; and expiry. */
describe('approval gates across gateways (server mode)', () => {
  let f: ApprovalsFixture
  let second: TestApp
  beforeAll(async () => {
    f = await startApprovalsFixture('server')
    second = await buildTestApp({
      join: f.t,
      env: { OPENVESPER_MODEL: 'openai/test-model', OPENAI_BASE_URL: `${f.up.url}/v1`, OPENVESPER_TOKEN: f.t.adminToken },
    })
  })
  afterAll(async () => {
    await second?.close()
    await f?.close()
  })

  it('concurrent decisions on two gateways: one wins, the other is a 409 with its outcome; the tool runs once', async () => {
    await setRules(f.admin, ASK_TIME)
    f.up.enqueue({ toolCalls: [{ id: 'call_x', name: 'current_time', arguments: {} }] }, { text: 'done' })
    const run = await f.admin.POST('/agent/async', { body: { message: 'x' } })
    const runId = run.data!.runId
    await waitStatus(f.admin, runId, 'awaiting_approval')
    const [a] = (await f.admin.GET('/approvals/pending')).data!.items.filter((p) => p.runId === runId)
    const base2 = await second.app.listen({ host: '127.0.0.1', port: 0 })
    const { createOpenVesperClient } = await import('@openvesper/client')
    const admin2 = createOpenVesperClient({ baseUrl: base2, token: f.t.adminToken })
    const path = { params: { path: { id: a!.id } } }
    const results = await Promise.all([
      f.admin.POST('/approvals/{id}/decide', { ...path, body: { decision: 'allow' } }),
      admin2.POST('/approvals/{id}/decide', { ...path, body: { decision: 'allow' } }),
    ])
    expect(results.map((r) => r.response.status).sort()).toEqual([200, 409])
    expect(results.find((r) => r.response.status === 409)!.error).toMatchObject({ outcome: 'allowed' })
    await waitStatus(f.admin, runId, 'completed')
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(1)
    expect(f.up.requests).toHaveLength(2)
  })
})

describe.each(MODES)('approval expiry (%s mode)', (mode) => {
  let f: ApprovalsFixture
  beforeAll(async () => {
    f = await startApprovalsFixture(mode, { OPENVESPER_APPROVAL_TTL_MS: '1000', OPENVESPER_APPROVAL_DEFAULT: 'ask' })
  })
  afterAll(async () => {
    await f?.close()
  })

  it('the default action ask gates an unmatched call; an approval left pending fails the run with approval_expired', async () => {
    const rules = await f.admin.GET('/approvals/rules')
    expect(rules.data).toMatchObject({ items: [], defaultAction: 'ask' })
    f.up.enqueue({ toolCalls: [{ id: 'call_e', name: 'current_time', arguments: {} }] }, { text: 'never' })
    const run = await f.admin.POST('/agent/async', { body: { message: 'late' } })
    const runId = run.data!.runId
    await waitStatus(f.admin, runId, 'awaiting_approval')
    const [a] = (await f.admin.GET('/approvals/pending')).data!.items
    const failed = await waitStatus(f.admin, runId, 'failed', 20_000)
    expect(failed.failureReason).toBe('approval_expired')
    const late = await f.admin.POST('/approvals/{id}/decide', { params: { path: { id: a!.id } }, body: { decision: 'allow' } })
    expect(late.response.status).toBe(409)
    expect(late.error).toMatchObject({ outcome: 'expired' })
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(0)
    expect(f.up.requests).toHaveLength(1)
  })
})
