import type { OpenVesperClient } from '@openvesper/client'
import { rawSql } from '@openvesper/db'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type ApprovalsFixture, setRules, startApprovalsFixture, waitStatus } from '../approvals/fixture.js'

/** The audit log through the generated client, in both modes: rows for each action, filters, paging, stats, dates, append-only. */
describe.each(MODES)('audit log (%s mode)', (mode) => {
  let f: ApprovalsFixture
  let auditor: OpenVesperClient
  beforeAll(async () => {
    f = await startApprovalsFixture(mode)
    auditor = f.client(await f.token(['audit:read']))
  })
  afterAll(async () => {
    await f?.close()
  })

  const entries = async (query: Record<string, string>) => {
    const res = await auditor.GET('/audit', { params: { query } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(200)
    return res.data!.items
  }

  it('records token creation, run start and abort, rule changes, approval request and decision — once each, with actor, time, target, outcome', async () => {
    const before = new Date(Date.now() - 1000).toISOString()
    const principalId = `prn_a${Math.random().toString(36).slice(2, 12)}`
    const token = await f.token(['runs:read', 'runs:write', 'approvals:write'], principalId)
    const c = f.client(token)
    await setRules(f.admin, [{ match: { tool: 'current_time' }, action: 'ask' }])
    f.up.enqueue({ toolCalls: [{ id: 'call_a', name: 'current_time', arguments: {} }] }, { text: 'ok' })
    const runId = (await c.POST('/agent/async', { body: { message: 'audited' } })).data!.runId
    await waitStatus(c, runId, 'awaiting_approval')
    const decided = await c.POST('/runs/{runId}/approve', { params: { path: { runId } }, body: { reason: 'fine' } })
    const approvalId = decided.data!.approvals[0]!.id
    await waitStatus(c, runId, 'completed')

    const mine = await waitFor(
      async () => {
        const rows = await entries({ actor: principalId, from: before })
        return rows.length >= 3 ? rows : undefined
      },
      { what: 'audit rows of the principal' },
    )
    const byAction = (a: string) => mine.filter((r) => r.action === a)
    expect(byAction('run.create')).toHaveLength(1)
    expect(byAction('run.create')[0]).toMatchObject({ actor: principalId, target: runId, outcome: 'success', detail: { mode: 'async', agent: 'main' } })
    expect(byAction('approval.request')).toHaveLength(1)
    expect(byAction('approval.request')[0]).toMatchObject({ target: approvalId, detail: { runId, tool: 'current_time' } })
    expect(byAction('approval.decide')).toHaveLength(1)
    expect(byAction('approval.decide')[0]).toMatchObject({ target: approvalId, outcome: 'success', detail: { decision: 'allow', runId } })
    expect(Date.parse(mine[0]!.at)).toBeGreaterThan(Date.parse(before))
    // Newest first.
    expect(mine.map((r) => r.id)).toEqual([...mine.map((r) => r.id)].sort((x, y) => y - x))

    const tokenRows = await entries({ action: 'token.create', from: before })
    expect(tokenRows.length).toBeGreaterThanOrEqual(1)
    expect(JSON.stringify(tokenRows)).not.toContain(token)
    const rules = await entries({ action: 'approval_rule.create', from: before })
    expect(rules.length).toBeGreaterThanOrEqual(1)

    // A second decision is a failure row.
    const again = await c.POST('/approvals/{id}/decide', { params: { path: { id: approvalId } }, body: { decision: 'deny' } })
    expect(again.response.status).toBe(409)
    await waitFor(async () => (await entries({ target: approvalId, outcome: 'failure' })).length === 1, { what: 'the failed decision row' })

    const abortRun = await c.POST('/agent/async', { body: { message: 'to abort' } })
    f.up.setDefault({ toolCalls: [{ id: 'call_b', name: 'current_time', arguments: {} }] })
    await c.POST('/agent/run/{runId}/abort', { params: { path: { runId: abortRun.data!.runId } } })
    await waitFor(async () => (await entries({ action: 'run.abort', target: abortRun.data!.runId })).length === 1, { what: 'the abort row' })
    f.up.reset()
  })

  it('pages with a cursor, counts by action and outcome, lists the days in a time zone', async () => {
    const all = await entries({})
    expect(all.length).toBeGreaterThan(3)
    const seen: number[] = []
    let cursor: string | undefined
    do {
      const page = await auditor.GET('/audit', { params: { query: { limit: 2, ...(cursor ? { cursor } : {}) } } })
      expect(page.data!.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.data!.items.map((r) => r.id))
      cursor = page.data!.nextCursor ?? undefined
    } while (cursor)
    expect(seen.slice(0, all.length)).toEqual(all.map((r) => r.id))

    const stats = await auditor.GET('/audit/stats')
    expect(stats.response.status).toBe(200)
    const runCreate = stats.data!.items.find((i) => i.action === 'run.create' && i.outcome === 'success')!
    expect(runCreate.count).toBe((await entries({ action: 'run.create' })).length)
    expect(stats.data!.total).toBe(stats.data!.items.reduce((n, i) => n + i.count, 0))
    const future = await auditor.GET('/audit/stats', { params: { query: { from: new Date(Date.now() + 3_600_000).toISOString() } } })
    expect(future.data).toEqual({ items: [], total: 0 })

    const today = new Date().toISOString().slice(0, 10)
    const utc = await auditor.GET('/audit/dates')
    expect(utc.data!.timeZone).toBe('UTC')
    expect(utc.data!.items[0]!.date).toBe(today)
    expect(utc.data!.items.reduce((n, d) => n + d.count, 0)).toBe(stats.data!.total)
    const tokyo = await auditor.GET('/audit/dates', { params: { query: { timeZone: 'Asia/Tokyo' } } })
    const tokyoToday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date())
    expect(tokyo.data!.items.map((d) => d.date)).toContain(tokyoToday)
  })

  it('needs audit:read; bad filters and cursors are 400 problems', async () => {
    const runner = f.client(await f.token(['runs:read', 'runs:write', 'approvals:read']))
    expect((await runner.GET('/audit')).response.status).toBe(403)
    expect((await fetch(`${f.base}/audit`)).status).toBe(401)
    const badZone = await auditor.GET('/audit/dates', { params: { query: { timeZone: 'Mars/Olympus' } } })
    expect(badZone.response.status).toBe(400)
    expect(badZone.error).toMatchObject({ code: 'invalid_request' })
    expect((await auditor.GET('/audit', { params: { query: { cursor: 'bm9wZQ' } } })).response.status).toBe(400)
    expect((await auditor.GET('/audit', { params: { query: { outcome: 'maybe' as never } } })).response.status).toBe(400)
    expect((await auditor.GET('/audit', { params: { query: { from: 'yesterday' } } })).response.status).toBe(400)
  })

  it("is append-only in the database: the application's role cannot UPDATE, DELETE or TRUNCATE audit rows", async () => {
    const raw = rawSql(f.t.runtime.db.db)
    const [{ n }] = (await raw.query<{ n: number }>('select count(*)::int as n from audit_log')) as [{ n: number }]
    expect(n).toBeGreaterThan(0)
    await expect(raw.query(`update audit_log set outcome = 'success' where true`)).rejects.toThrow(/append-only/)
    await expect(raw.query('delete from audit_log')).rejects.toThrow(/append-only/)
    await expect(raw.query('truncate audit_log')).rejects.toThrow(/append-only/)
    const [{ m }] = (await raw.query<{ m: number }>('select count(*)::int as m from audit_log')) as [{ m: number }]
    expect(m).toBeGreaterThanOrEqual(n)
  })
})
