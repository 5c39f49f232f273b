import { isUniqueViolation, type Db, rawSql, type RunRow } from '@openvesper/db'
import { COLLECT_SEPARATOR, sessionTouchCte, sessionUpsertCte, transcriptInsertCte } from '@openvesper/sessions'
import { type NewRun, toRunRow } from './runs.repo.js'

/**
 * A busy session's queue, applied in the database: every decision is one statement, ordered by the session row's
 * lock or by `runs_session_id_active_uq` (at most one run per session that is not waiting), so several gateways and
 * workers never act on a stale in-memory view. The policy (which mode) is `@openvesper/sessions` queue-modes.
 *
 * A waiting run is an ordinary `queued` run with `waiting`: visible at GET /agent/run/:runId, abortable like any
 * other; claims skip it. Its user message enters the transcript when it is promoted, so the transcript stays in the
 * order the turns ran.
 */

/**
 * A run that waits behind the active one (`$11` = the cap on waiting runs per session): the session is touched (its
 * upsert takes the row lock), the run inserted `waiting` unless the session already holds `$11` waiting runs.
 */
const INSERT_WAITING_SQL = `
  with ${sessionUpsertCte('sess', { id: '$4', principalId: '$2', key: '$10', agentId: '$3' })}, u as (
    insert into runs (id, principal_id, agent_id, session_id, mode, status, input, idempotency_key, request_id, model, waiting)
    select $1, $2, $3, sess.id, $5, 'queued', $6::jsonb, $7, $8, $9, true from sess
    where (select count(*) from runs w where w.session_id = sess.id and w.waiting and w.status = 'queued') < $11
    on conflict (principal_id, idempotency_key) where idempotency_key is not null do nothing
    returning *
  )
  select * from u`

/** Merges a message into the session's newest waiting `collect` run (the debounce restarts: `updated_at`). */
const COLLECT_SQL = `
  with t as (
    select r.id from runs r join sessions s on s.id = r.session_id
    where s.principal_id = $1 and s.key = $2 and r.waiting and r.status = 'queued' and r.input->>'queueMode' = 'collect'
    order by r.created_at desc, r.id desc limit 1
    for update of r skip locked
  ), u as (
    update runs r set updated_at = now(), input = r.input || jsonb_build_object(
      'message', (r.input->>'message') || $3::text || $4::text,
      'collected', coalesce((r.input->>'collected')::int, 1) + 1)
    from t where r.id = t.id and r.waiting and r.status = 'queued'
    returning r.*
  ), ${sessionTouchCte('s', 'select u.session_id from u')}
  select * from u`

/**
 * Promotes the session's oldest waiting run when nothing else is active in it, writing its user message to the
 * transcript; `delay_ms`: what remains of a `collect` run's debounce window (`$3` ms after its last message). A
 * concurrent promotion of another run of the session violates `runs_session_id_active_uq`: exactly one wins.
 */
const PROMOTE_SQL = `
  with c as (
    select r.id from runs r
    where r.session_id = $1 and r.waiting and r.status = 'queued'
      and not exists (select 1 from runs a where a.session_id = $1 and a.status in ('queued', 'running', 'awaiting_approval') and not a.waiting)
    order by r.created_at, r.id limit 1
    for update skip locked
  ), u as (
    update runs r set waiting = false from c where r.id = c.id and r.waiting and r.status = 'queued'
    returning r.*
  ), ${transcriptInsertCte('m', { from: 'u', id: '$2', sessionId: 'u.session_id', runId: 'u.id', role: 'user', text: "u.input->>'message'" })}
  select u.*, case when u.input->>'queueMode' = 'collect'
      then greatest(0, ceil(extract(epoch from (u.updated_at + $3::int * interval '1 millisecond' - now())) * 1000))::int
      else 0 end as delay_ms
  from u`

/** A steered message: into the transcript of the active run's session, only while that run is running. */
const STEER_SQL = `
  with r as (select id, session_id from runs where id = $1 and status = 'running'),
  ${transcriptInsertCte('m', { from: 'r', id: '$2', sessionId: 'r.session_id', runId: 'r.id', role: 'user', text: '$3::text' })},
  ${sessionTouchCte('s', 'select session_id from r')}
  select id from r`

export interface WaitingRunInput extends NewRun {
  sessionId: string
  sessionKey: string
  collect: boolean
}

export function createSessionQueue(db: Db) {
  const raw = rawSql(db)
  return {
    /** The session's active run (else its first waiting one), if any. */
    async activeRun(sessionId: string): Promise<Pick<RunRow, 'id' | 'status' | 'waiting'> | undefined> {
      const [row] = await raw.query<{ id: string; status: RunRow['status']; waiting: boolean }>(
        `select id, status, waiting from runs where session_id = $1 and status in ('queued', 'running', 'awaiting_approval')
         order by waiting, created_at, id limit 1`,
        [sessionId],
      )
      return row
    },

    /** Inserts a waiting run; `undefined` past the cap or when the principal already used the idempotency key. */
    async insertWaiting(r: WaitingRunInput, cap: number): Promise<RunRow | undefined> {
      const input = r.collect ? { message: r.message, queueMode: 'collect' } : { message: r.message }
      const rows = await raw.query(INSERT_WAITING_SQL, [
        r.id,
        r.principalId,
        r.agentId,
        r.sessionId,
        r.mode,
        JSON.stringify(input),
        r.idempotencyKey,
        r.requestId,
        r.model ?? null,
        r.sessionKey,
        cap,
      ])
      return rows[0] ? toRunRow(rows[0]) : undefined
    },

    /** The waiting `collect` run the message was merged into, or `undefined` when there is none to merge into. */
    async collectInto(principalId: string, sessionKey: string, message: string): Promise<RunRow | undefined> {
      const [row] = await raw.query(COLLECT_SQL, [principalId, sessionKey, COLLECT_SEPARATOR, message])
      return row ? toRunRow(row) : undefined
    },

    /** See PROMOTE_SQL: the promoted run and how long to hold it back, or `undefined` (nothing to promote, or lost the race). */
    async promoteNext(sessionId: string, messageId: string, debounceMs: number): Promise<{ run: RunRow; delayMs: number } | undefined> {
      try {
        const [row] = await raw.query(PROMOTE_SQL, [sessionId, messageId, debounceMs])
        return row ? { run: toRunRow(row), delayMs: Number(row.delay_ms) } : undefined
      } catch (err) {
        if (isUniqueViolation(err, 'runs_session_id_active_uq')) return undefined
        throw err
      }
    },

    /** Writes a steered message for a running run; false when the run is no longer running. */
    async steer(runId: string, messageId: string, text: string): Promise<boolean> {
      return (await raw.query(STEER_SQL, [runId, messageId, text])).length === 1
    },

    /** Sessions with waiting runs and nothing active (a promotion that was lost with its process). */
    async stalledSessions(limit = 100): Promise<string[]> {
      const rows = await raw.query<{ session_id: string }>(
        `select distinct w.session_id from runs w
         where w.waiting and w.status = 'queued'
           and not exists (select 1 from runs a where a.session_id = w.session_id and a.status in ('queued', 'running', 'awaiting_approval') and not a.waiting)
         limit $1`,
        [limit],
      )
      return rows.map((r) => r.session_id)
    },
  }
}
