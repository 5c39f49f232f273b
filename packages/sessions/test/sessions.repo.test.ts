import { type DbHandle, rawSql } from '@openvesper/db'
import { newId } from '@openvesper/shared'
import { createRun, createSession, openTestPostgres, type TestPostgres } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSessionsRepo } from '../src/sessions.repo.js'
import { transcriptInsertCte, transcriptJson } from '../src/sessions.sql.js'

/** The session repository and the transcript fragments against Postgres: epochs, guards, copies, isolation. */
describe('sessions repository', () => {
  let pg: TestPostgres
  let handle: DbHandle
  const repo = () => createSessionsRepo(handle.db)

  /** A transcript entry written by the fragment core's run statements compose (so it gets the session's epoch). */
  const append = async (sessionId: string, text: string, role: 'user' | 'assistant' = 'user') => {
    const id = newId('message')
    await rawSql(handle.db).query(
      `with ${transcriptInsertCte('m', { from: '(select 1) x', id: '$1', sessionId: '$2', runId: 'null', role, text: '$3::text' })} select 1`,
      [id, sessionId, text],
    )
    return id
  }
  /** What the model would be sent, as the create statement reads it. */
  const context = async (sessionId: string) => {
    const [row] = await rawSql(handle.db).query<{ t: { content: { text: string } }[] }>(`select ${transcriptJson({ sessionId: '$1', when: 'true' })} as t`, [
      sessionId,
    ])
    return row!.t.map((e) => e.content.text)
  }
  const texts = async (sessionId: string) => (await repo().transcript(sessionId)).map((m) => `${m.content.text}@${m.epoch}`)

  beforeAll(async () => {
    pg = await openTestPostgres()
    handle = pg.handle
  })
  afterAll(() => pg.close())

  it('reset starts a new epoch: the context holds only what came after, the transcript keeps everything', async () => {
    const { sessionId, session } = await createSession(handle.db, { principalId: 'prn_r1', key: 'k' })
    await append(sessionId, 'old question')
    await append(sessionId, 'old answer', 'assistant')
    expect(await context(sessionId)).toEqual(['old question', 'old answer'])
    const reset = await repo().reset('prn_r1', session.key)
    expect(reset.ok && reset.value).toMatchObject({ epoch: 1 })
    expect(reset.ok && reset.value.resetAt).toBeInstanceOf(Date)
    expect(await context(sessionId)).toEqual([])
    await append(sessionId, 'new question')
    expect(await context(sessionId)).toEqual(['new question'])
    expect((await repo().contextTranscript(sessionId)).map((m) => m.content.text)).toEqual(['new question'])
    expect(await texts(sessionId)).toEqual(['old question@0', 'old answer@0', 'new question@1'])
  })

  it('refuses reset and delete while a run is active, naming it, and changes nothing', async () => {
    const { sessionId, session } = await createSession(handle.db, { principalId: 'prn_r2', key: 'busy' })
    await append(sessionId, 'hi')
    const { runId } = await createRun(handle.db, { principalId: 'prn_r2', sessionId, status: 'running' })
    expect(await repo().reset('prn_r2', session.key)).toEqual({ ok: false, reason: 'busy', runId })
    expect(await repo().delete('prn_r2', session.key)).toEqual({ ok: false, reason: 'busy', runId })
    expect(await repo().findByKey('prn_r2', 'busy')).toMatchObject({ epoch: 0 })
    expect(await texts(sessionId)).toEqual(['hi@0'])
    expect(await repo().prune('prn_r2', 0, false)).toBe(0)
    expect(await repo().findByKey('prn_r2', 'busy')).toBeDefined()
  })

  it('finds, lists, resets and deletes only within the principal', async () => {
    await createSession(handle.db, { principalId: 'prn_a', key: 'shared' })
    await createSession(handle.db, { principalId: 'prn_b', key: 'shared' })
    expect((await repo().findByKey('prn_a', 'shared'))!.id).not.toBe((await repo().findByKey('prn_b', 'shared'))!.id)
    expect(await repo().findByKey('prn_c', 'shared')).toBeUndefined()
    expect(await repo().reset('prn_c', 'shared')).toEqual({ ok: false, reason: 'missing' })
    expect(await repo().delete('prn_c', 'shared')).toEqual({ ok: false, reason: 'missing' })
    expect(await repo().fork('prn_c', 'shared', 'mine', newId('session'))).toEqual({ ok: false, reason: 'missing' })
    expect((await repo().list('prn_a', { limit: 10 })).map((s) => s.key)).toEqual(['shared'])
    expect(await repo().delete('prn_a', 'shared')).toEqual({ ok: true, value: undefined })
    expect(await repo().findByKey('prn_b', 'shared')).toBeDefined()
  })

  it('fork keeps epochs, reset time and settings; branch takes the messages up to one, in its epoch', async () => {
    const { sessionId, session } = await createSession(handle.db, { principalId: 'prn_f', key: 'src', agentId: 'writer' })
    const early = await append(sessionId, 'e1')
    await append(sessionId, 'e2', 'assistant')
    await repo().reset('prn_f', session.key)
    const late = await append(sessionId, 'l1')
    await append(sessionId, 'l2', 'assistant')
    const source = (await repo().findByKey('prn_f', 'src'))!

    const fork = await repo().fork('prn_f', 'src', 'fork', newId('session'))
    expect(fork.ok && fork.session).toMatchObject({ key: 'fork', agentId: 'writer', epoch: 1, resetAt: source.resetAt })
    const forkId = fork.ok ? fork.session.id : ''
    expect(await texts(forkId)).toEqual(['e1@0', 'e2@0', 'l1@1', 'l2@1'])
    expect(await context(forkId)).toEqual(['l1', 'l2'])

    const lateBranch = await repo().branch('prn_f', 'src', late, 'late', newId('session'))
    expect(lateBranch.ok && lateBranch.session).toMatchObject({ epoch: 1, resetAt: source.resetAt })
    expect(await texts(lateBranch.ok ? lateBranch.session.id : '')).toEqual(['e1@0', 'e2@0', 'l1@1'])

    // From before the reset: the model sees that conversation again, up to the message.
    const earlyBranch = await repo().branch('prn_f', 'src', early, 'early', newId('session'))
    expect(earlyBranch.ok && earlyBranch.session).toMatchObject({ epoch: 0, resetAt: null })
    const earlyId = earlyBranch.ok ? earlyBranch.session.id : ''
    expect(await context(earlyId)).toEqual(['e1'])

    // Writing to a copy leaves the original as it was.
    await append(forkId, 'only in the fork')
    expect(await texts(sessionId)).toEqual(['e1@0', 'e2@0', 'l1@1', 'l2@1'])
    expect(await repo().fork('prn_f', 'src', 'fork', newId('session'))).toEqual({ ok: false, reason: 'exists' })
    expect(await repo().branch('prn_f', 'src', late, 'early', newId('session'))).toEqual({ ok: false, reason: 'exists' })
    expect(await repo().branch('prn_f', 'fork', late, 'other', newId('session'))).toEqual({ ok: false, reason: 'no_message' })
  })

  it('prune drops only sessions idle longer than the age, counting without dropping on a dry run', async () => {
    const idle = await createSession(handle.db, { principalId: 'prn_p', key: 'idle' })
    await append(idle.sessionId, 'stale')
    await rawSql(handle.db).query(`update sessions set updated_at = now() - interval '2 hours' where id = $1`, [idle.sessionId])
    await createSession(handle.db, { principalId: 'prn_p', key: 'fresh' })
    expect(await repo().prune('prn_p', 3_600_000, true)).toBe(1)
    expect(await repo().findByKey('prn_p', 'idle')).toBeDefined()
    expect(await repo().prune('prn_p', 3_600_000, false)).toBe(1)
    expect(await repo().findByKey('prn_p', 'idle')).toBeUndefined()
    expect(await repo().transcript(idle.sessionId)).toEqual([])
    expect((await repo().list('prn_p', { limit: 10 })).map((s) => s.key)).toEqual(['fresh'])
  })
})
