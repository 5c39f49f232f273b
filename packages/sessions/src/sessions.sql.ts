import { CONTEXT_MESSAGES_MAX } from './tokens.js'

/**
 * The session tables' writes as SQL fragments for `rawSql` statements: core's run statements compose them, so a
 * run, its session and its transcript entries commit in one statement while the SQL that writes `sessions` and
 * `session_messages` stays here, with the package that owns those tables.
 *
 * Every argument is SQL text naming a CTE, a column of one (`u.session_id`) or a positional parameter (`$4`),
 * written by the caller's statement; never a value (values travel as `$n` parameters).
 */

/** A transcript entry as `transcriptJson` returns it. */
export interface TranscriptJsonEntry {
  role: string
  content: { text?: string }
  runId: string | null
}

/**
 * CTE `name`: the session of (`principalId`, `key`), created under `id` for `agentId` on first use, else touched
 * (`updated_at`). Returns its `id` and its `epoch` as of the row lock the upsert took: a reset that committed while
 * the statement waited for that lock is seen here, though not by the statement's snapshot (use this `epoch` for the
 * statement's transcript reads and writes).
 */
export const sessionUpsertCte = (name: string, v: { id: string; principalId: string; key: string; agentId: string }) => `${name} as (
    insert into sessions (id, principal_id, key, agent_id) values (${v.id}, ${v.principalId}, ${v.key}, ${v.agentId})
    on conflict (principal_id, key) do update set updated_at = now()
    returning id, epoch
  )`

/** CTE `name`: touches (`updated_at`) the sessions whose ids `sessionIds` (a subquery) selects. */
export const sessionTouchCte = (name: string, sessionIds: string) => `${name} as (
    update sessions set updated_at = now() where id in (${sessionIds})
  )`

/** The current epoch of session `sessionId` as the statement's snapshot sees it; 0 for a session the statement itself creates. */
const currentEpoch = (sessionId: string) => `coalesce((select s.epoch from sessions s where s.id = ${sessionId}), 0)`

/**
 * CTE `name`: one transcript entry of `role` with text `text` per row of `from` (filtered by `where`), its id, session
 * and run given as expressions over those rows, in the session's current epoch (`epoch`, an expression such as the
 * upsert CTE's `epoch`; default: as the statement's snapshot sees it). Entries are numbered (`seq`) in insertion order.
 */
export const transcriptInsertCte = (
  name: string,
  v: { from: string; where?: string; id: string; sessionId: string; runId: string; role: 'user' | 'assistant'; text: string; epoch?: string },
) => `${name} as (
    insert into session_messages (id, session_id, run_id, role, content, epoch)
    select ${v.id}, ${v.sessionId}, ${v.runId}, '${v.role}', jsonb_build_object('text', ${v.text}), ${v.epoch ?? currentEpoch(v.sessionId)} from ${v.from}${
      v.where
        ? `
    where ${v.where}`
        : ''
    }
  )`

/**
 * A scalar subquery: what the model sees of session `sessionId` — its transcript since the last reset (the messages
 * of its current epoch), in order, as a JSON array of TranscriptJsonEntry; empty (`[]`) unless `when` holds. Messages
 * before a reset stay stored and readable, never sent. `epoch`: the epoch to read (default: the session's as the
 * statement's snapshot sees it). Inside one statement it reads the transcript as it was before the statement's own writes.
 * Only the newest CONTEXT_MESSAGES_MAX messages: a turn's cost never grows with the whole history.
 */
export const transcriptJson = (v: { sessionId: string; when: string; epoch?: string }) =>
  `(select coalesce(jsonb_agg(jsonb_build_object('role', sm.role, 'content', sm.content, 'runId', sm.run_id) order by sm.seq), '[]'::jsonb)
     from (select * from session_messages sm where ${v.when} and sm.session_id = ${v.sessionId} and sm.epoch = ${v.epoch ?? currentEpoch(v.sessionId)}
       order by sm.seq desc limit ${CONTEXT_MESSAGES_MAX}) sm)`
