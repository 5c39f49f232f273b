import { type DbHandle, rawSql, rowsOf } from '@openvesper/db'
import { createSessionsRepo } from '@openvesper/sessions'
import { openTestPostgres, type TestPostgres, waitFor } from '@openvesper/testing'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CreatedRow, createRunsRepo, type NewRun } from '../src/runs/runs.repo.js'

/**
 * A run in a session is created and finished by single statements composed of the sessions package's fragments
 * (session upsert and touch, transcript entries, the transcript as JSON): what each of them writes, together.
 */
describe('runs in a session', () => {
  let pg: TestPostgres
  let handle: DbHandle
  let n = 0
  const next = () => (n++).toString().padStart(6, '0')
  const repo = () => createRunsRepo(handle.db)
  const sessions = () => createSessionsRepo(handle.db)
  const inline = (principalId: string, extra: Partial<NewRun> = {}): NewRun => ({
    id: `run_sess${next()}`,
    principalId,
    agentId: 'main',
    sessionId: null,
    mode: 'sync',
    message: `message ${n}`,
    idempotencyKey: null,
    requestId: null,
    claimBy: { workerId: 'w_sess', leaseMs: 60_000 },
    ...extra,
  })
  const inSession = (key: string, withHistory = true) => ({ key, sessionId: `ses_${next()}`, messageId: `msg_${next()}`, withHistory })
  const usage = { inputTokens: 1, outputTokens: 1 }
  const complete = (id: string, output: string) =>
    repo().finish(id, 1, [{ type: 'run.completed', data: { output } }], { status: 'completed', output, usage, model: 'echo' }, `msg_${next()}`)
  /** The session row; `touched`: its updated_at in microseconds (statements a moment apart differ below a millisecond). */
  const sessionOf = async (principalId: string, key: string) => {
    const [row] = await rawSql(handle.db).query<{ id: string; agent_id: string; touched: string }>(
      `select id, agent_id, (extract(epoch from updated_at) * 1000000)::bigint::text as touched from sessions where principal_id = $1 and key = $2`,
      [principalId, key],
    )
    return row && { ...row, touched: BigInt(row.touched) }
  }

  beforeAll(async () => {
    pg = await openTestPostgres()
    handle = pg.handle
  })
  afterAll(() => pg.close())

  it('creates the session on first use, with the user message in its transcript and an empty history', async () => {
    const s = inSession('k-first')
    const created = await repo().create(inline('prn_s1', { agentId: 'writer' }), s)
    expect(created?.run).toMatchObject({ sessionId: s.sessionId, status: 'running' })
    expect(created?.history).toEqual([])
    expect(await sessionOf('prn_s1', 'k-first')).toMatchObject({ id: s.sessionId, agent_id: 'writer' })
    const transcript = await sessions().transcript(s.sessionId)
    expect(transcript.map((m) => ({ id: m.id, role: m.role, content: m.content, runId: m.runId }))).toEqual([
      { id: s.messageId, role: 'user', content: { text: created!.run.input.message }, runId: created!.run.id },
    ])
  })

  it('appends the reply when the run completes and touches the session; the next run reads both as its history', async () => {
    const first = await repo().create(inline('prn_s2'), inSession('k-next'))
    const before = (await sessionOf('prn_s2', 'k-next'))!
    const finished = await complete(first!.run.id, 'the reply')
    expect(finished?.run.status).toBe('completed')
    const touched = (await sessionOf('prn_s2', 'k-next'))!
    expect(touched.touched).toBeGreaterThan(before.touched)

    // Same key: the existing session (the id given is only used on first use), touched again.
    const second = await repo().create(inline('prn_s2'), inSession('k-next'))
    expect(second?.run.sessionId).toBe(before.id)
    expect((await sessionOf('prn_s2', 'k-next'))!.touched).toBeGreaterThan(touched.touched)
    expect(second?.history).toEqual([
      { role: 'user', content: { text: first!.run.input.message }, runId: first!.run.id },
      { role: 'assistant', content: { text: 'the reply' }, runId: first!.run.id },
    ])
    expect((await sessions().transcript(before.id)).map((m) => `${m.role}:${m.runId === second!.run.id ? 'second' : 'first'}`)).toEqual([
      'user:first',
      'assistant:first',
      'user:second',
    ])
  })

  it('after a reset, reads only the new epoch as history and writes the new entries in it', async () => {
    const first = await repo().create(inline('prn_s6'), inSession('k-reset'))
    await complete(first!.run.id, 'before the reset')
    const reset = await sessions().reset('prn_s6', 'k-reset')
    expect(reset.ok).toBe(true)
    const second = await repo().create(inline('prn_s6'), inSession('k-reset'))
    expect(second?.history).toEqual([])
    await complete(second!.run.id, 'after the reset')
    const third = await repo().create(inline('prn_s6'), inSession('k-reset'))
    expect(third?.history?.map((e) => e.content.text)).toEqual([second!.run.input.message, 'after the reset'])
    expect((await sessions().transcript(first!.run.sessionId!)).map((m) => m.epoch)).toEqual([0, 0, 1, 1, 1])
  })

  it('a reset that commits while the create statement waits for the session row holds for that run', async () => {
    const first = await repo().create(inline('prn_s7'), inSession('k-race'))
    await complete(first!.run.id, 'old reply')
    let pending: Promise<CreatedRow | undefined> | undefined
    // A reset in progress (the row locked, the epoch bumped, not yet committed) when the next run's statement starts.
    await handle.db.transaction(async (tx) => {
      await tx.execute(sql`update sessions set epoch = epoch + 1, reset_at = now() where principal_id = 'prn_s7' and key = 'k-race'`)
      pending = repo().create(inline('prn_s7'), inSession('k-race'))
      await waitFor(
        async () =>
          rowsOf(await handle.db.execute(sql`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%insert into sessions%'`)).length >
          0,
        { what: 'the create statement to wait for the session row' },
      )
    })
    const created = await pending!
    expect(created?.history).toEqual([])
    expect((await sessions().transcript(first!.run.sessionId!)).map((m) => [m.runId === created!.run.id ? 'new' : 'old', m.epoch])).toEqual([
      ['old', 0],
      ['old', 0],
      ['new', 1],
    ])
  })

  it('returns no history unless asked for it', async () => {
    const s = inSession('k-nohistory', false)
    const created = await repo().create(inline('prn_s3'), s)
    expect(created?.history).toBeUndefined()
    expect(await sessions().transcript(s.sessionId)).toHaveLength(1)
  })

  it('writes no reply and does not touch the session when the run fails', async () => {
    const s = inSession('k-failed')
    const created = await repo().create(inline('prn_s4'), s)
    const before = (await sessionOf('prn_s4', 'k-failed'))!
    const finished = await repo().finish(
      created!.run.id,
      1,
      [{ type: 'run.failed', data: { reason: 'internal' } }],
      { status: 'failed', reason: 'internal', message: 'boom', output: null, usage: null, model: null },
      `msg_${next()}`,
    )
    expect(finished?.run.status).toBe('failed')
    expect((await sessions().transcript(s.sessionId)).map((m) => m.role)).toEqual(['user'])
    expect((await sessionOf('prn_s4', 'k-failed'))!.touched).toBe(before.touched)
  })

  it('is all or nothing: a second active run in the session writes neither its run nor its message', async () => {
    const s = inSession('k-busy')
    await repo().create(inline('prn_s5'), s)
    const second = inline('prn_s5')
    await expect(repo().create(second, inSession('k-busy'))).rejects.toThrow(/runs_session_id_active_uq/)
    expect(await repo().findById(second.id)).toBeUndefined()
    expect(await sessions().transcript(s.sessionId)).toHaveLength(1)
  })
})
