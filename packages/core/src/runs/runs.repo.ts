import { type Db, rawSql, type RunMode, type RunRow, type RunUsage } from '@openvesper/db'
import { appendEventsSql, type EventItem, numberedEvents, toIso } from './event-sql.js'
import type { RunEvent, RunEventType } from './events.js'

export type { EventItem } from './event-sql.js'

export interface NewRun {
  id: string
  principalId: string
  agentId: string
  sessionId: string | null
  mode: RunMode
  message: string
  /** The `provider/model` the run's agent resolves to now (shown while the run is queued; set again when it ends). */
  model?: string | null
  idempotencyKey: string | null
  requestId: string | null
  /** Inline runs (sync, stream) are inserted already claimed by the gateway that executes them, with their run.started event. */
  claimBy?: { workerId: string; leaseMs: number }
}

/** A prior transcript entry, as the create statement returns it for an inline run in a session. */
export interface HistoryEntry {
  role: string
  content: { text?: string }
  runId: string | null
}

export interface CreatedRow {
  run: RunRow
  /** run.started (seq 1) of an inline run, stored by the same statement; publish it. */
  started?: RunEvent
  /** The session's transcript before this run's message, when asked for (inline runs read it here, not again). */
  history?: HistoryEntry[]
}

export interface ClaimedRow {
  run: RunRow
  /** The attempt's run.started, stored by the claim statement; publish it. */
  started: RunEvent
}

export type FinishFields =
  | { status: 'completed'; output: string; usage: RunUsage; model: string }
  | { status: 'failed'; reason: string; message: string; output: string | null; usage: RunUsage | null; model: string | null }

/**
 * The attempt's run.started (its data built from the claimed row), as a CTE over the claimed run `u`: the claim and
 * the event are one statement. Only a claimed run gets one (an async run is inserted queued).
 */
const STARTED_EVENT_CTE = `e as (
    insert into run_events (run_id, seq, type, data)
    select u.id, u.last_event_seq, 'run.started',
      jsonb_build_object('attempt', u.attempt, 'agent', u.agent_id, 'model', u.model, 'worker', u.lease_owner)
    from u where u.status = 'running'
    returning created_at
  )`

const INSERT_RUN_COLUMNS = `(id, principal_id, agent_id, session_id, mode, status, input, idempotency_key, request_id, attempt, lease_owner, model, lease_expires_at, started_at, last_event_seq)`
/** The values of INSERT_RUN_COLUMNS; a claimed run (`$11` = its lease owner) starts at event 1, its run.started. */
const insertRunValues = (sessionId: string) => `$1, $2, $3, ${sessionId}, $5, $6, $7::jsonb, $8, $9, $10, $11, $12,
  case when $11::text is null then null else now() + $13::int * interval '1 millisecond' end,
  case when $11::text is null then null else now() end, $10::int`
const ON_IDEMPOTENCY_CONFLICT = `on conflict (principal_id, idempotency_key) where idempotency_key is not null do nothing`

/** One statement: the run (claimed with its run.started when inline). Nothing when the idempotency key is taken. */
const CREATE_RUN_SQL = `
  with u as (
    insert into runs ${INSERT_RUN_COLUMNS} values (${insertRunValues('$4')})
    ${ON_IDEMPOTENCY_CONFLICT}
    returning *
  ), ${STARTED_EVENT_CTE}
  select u.*, (select created_at from e) as started_event_at, null::jsonb as history from u`

/**
 * One statement: the session (created on first use, else touched), the run (claimed with its run.started when
 * inline), the user's message in the transcript and, when `$16`, the transcript before it — all or nothing.
 * A second active run in the session violates `runs_session_id_active_uq`.
 */
const CREATE_RUN_IN_SESSION_SQL = `
  with sess as (
    insert into sessions (id, principal_id, key, agent_id) values ($4, $2, $14, $3)
    on conflict (principal_id, key) do update set updated_at = now()
    returning id
  ), u as (
    insert into runs ${INSERT_RUN_COLUMNS} select ${insertRunValues('sess.id')} from sess
    ${ON_IDEMPOTENCY_CONFLICT}
    returning *
  ), m as (
    insert into session_messages (id, session_id, run_id, role, content)
    select $15, u.session_id, u.id, 'user', jsonb_build_object('text', u.input->>'message') from u
  ), ${STARTED_EVENT_CTE}
  select u.*, (select created_at from e) as started_event_at,
    (select coalesce(jsonb_agg(jsonb_build_object('role', sm.role, 'content', sm.content, 'runId', sm.run_id) order by sm.seq), '[]'::jsonb)
     from session_messages sm where $16::boolean and sm.session_id = u.session_id) as history
  from u`

/** queued → running for this worker, attempt + 1, with the attempt's run.started event. */
const CLAIM_SQL = `
  with u as (
    update runs set status = 'running', attempt = attempt + 1, lease_owner = $2,
      lease_expires_at = now() + $3::int * interval '1 millisecond', started_at = coalesce(started_at, now()),
      updated_at = now(), last_event_seq = last_event_seq + 1
    where id = $1 and status = 'queued'
    returning *
  ), ${STARTED_EVENT_CTE}
  select u.*, (select created_at from e) as started_event_at from u`

/**
 * Fenced finalisation: the status, the events still pending and the terminal one (the last item) and, for a
 * completed run in a session, the assistant's transcript entry commit together.
 */
const FINISH_SQL = `
  with u as (
    update runs set status = $3, output = $4, usage = $5::jsonb, model = $6, failure_reason = $7, error_message = $8,
      lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
      last_event_seq = last_event_seq + $10::int
    where id = $1 and attempt = $2 and status = 'running'
    returning *
  ), ev as (${appendEventsSql('$1', '$9', '$10')}
  ), m as (
    insert into session_messages (id, session_id, run_id, role, content)
    select $11, u.session_id, $1, 'assistant', jsonb_build_object('text', $4::text) from u
    where u.session_id is not null and $3 = 'completed'
  ), s as (
    update sessions set updated_at = now() where $3 = 'completed' and id = (select session_id from u)
  )
  select min(ev.seq) as seq, min(ev.created_at) as created_at, (select to_jsonb(u.*) from u) as run from ev`

/** Any active status → cancelled, with its run.cancelled event. */
const CANCEL_SQL = `
  with u as (
    update runs set status = 'cancelled', lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
      last_event_seq = last_event_seq + 1
    where id = $1 and status in ('queued', 'running', 'awaiting_approval')
    returning last_event_seq
  )
  insert into run_events (run_id, seq, type, data)
  select $1, u.last_event_seq, 'run.cancelled', jsonb_build_object('reason', $2::text) from u
  returning seq, created_at`

/**
 * Expired leases: back to queued (run.retrying) while attempts remain, else failed with worker_lost (run.failed);
 * status and event in one statement, so two reconcilers never both act on a run and followers always end.
 */
const RECOVER_EXPIRED_SQL = `
  with u as (
    update runs set
      status = case when attempt >= $1 then 'failed' else 'queued' end,
      failure_reason = case when attempt >= $1 then 'worker_lost' else null end,
      error_message = case when attempt >= $1 then 'the worker executing this run was lost' else null end,
      finished_at = case when attempt >= $1 then now() else null end,
      lease_owner = null, lease_expires_at = null, updated_at = now(), last_event_seq = last_event_seq + 1
    where id in (
      select id from runs where status = 'running' and lease_expires_at < now()
      order by lease_expires_at limit $2 for update skip locked
    )
    returning id, status, attempt, last_event_seq
  ), e as (
    insert into run_events (run_id, seq, type, data)
    select u.id, u.last_event_seq,
      case when u.status = 'queued' then 'run.retrying' else 'run.failed' end,
      case when u.status = 'queued' then jsonb_build_object('attempt', u.attempt, 'reason', 'worker_lost')
        else jsonb_build_object('reason', 'worker_lost', 'message', 'the worker executing this run was lost', 'output', null, 'partial', false) end
    from u
    returning run_id, seq, type, data, created_at
  )
  select u.id, u.status, u.attempt, e.seq, e.type, e.data, e.created_at from u join e on e.run_id = u.id`

function startedEvent(raw: Record<string, unknown>, run: RunRow): RunEvent {
  return {
    runId: run.id,
    seq: run.lastEventSeq,
    type: 'run.started',
    data: { attempt: run.attempt, agent: run.agentId, model: run.model, worker: run.leaseOwner },
    createdAt: toIso(raw.started_event_at),
  }
}

/**
 * Run queries. The hot ones (create, claim, finish, cancel, lookups) are single hand-written statements sent
 * through `rawSql` (prepared, no query builder); every write after the claim is fenced on `attempt`.
 */
export function createRunsRepo(db: Db) {
  const raw = rawSql(db)
  return {
    /**
     * Inserts a run — in its session when `session` is given (see CREATE_RUN_IN_SESSION_SQL) — in one statement.
     * `undefined` when the principal already used this idempotency key.
     */
    async create(
      r: NewRun,
      session?: { key: string; sessionId: string; messageId: string; withHistory: boolean },
    ): Promise<CreatedRow | undefined> {
      const claimed = r.claimBy
      const params = [
        r.id,
        r.principalId,
        r.agentId,
        session ? session.sessionId : r.sessionId, // the session variant inserts the session under this id on first use
        r.mode,
        claimed ? 'running' : 'queued',
        JSON.stringify({ message: r.message }),
        r.idempotencyKey,
        r.requestId,
        claimed ? 1 : 0,
        claimed?.workerId ?? null,
        r.model ?? null,
        claimed?.leaseMs ?? 0,
      ]
      const rows = session
        ? await raw.query(CREATE_RUN_IN_SESSION_SQL, [...params, session.key, session.messageId, session.withHistory])
        : await raw.query(CREATE_RUN_SQL, params)
      const row = rows[0]
      if (!row) return undefined
      const run = toRunRow(row)
      return {
        run,
        started: claimed ? startedEvent(row, run) : undefined,
        history: session?.withHistory ? ((row.history as HistoryEntry[] | null) ?? []) : undefined,
      }
    },

    /** Inserts a run outside any session; `undefined` when the principal already used this idempotency key. */
    async insert(r: NewRun): Promise<RunRow | undefined> {
      return (await this.create(r))?.run
    },

    async findById(id: string): Promise<RunRow | undefined> {
      const [row] = await raw.query('select * from runs where id = $1', [id])
      return row ? toRunRow(row) : undefined
    },

    async findByIdempotencyKey(principalId: string, key: string): Promise<RunRow | undefined> {
      const [row] = await raw.query('select * from runs where principal_id = $1 and idempotency_key = $2', [principalId, key])
      return row ? toRunRow(row) : undefined
    },

    /** queued → running for this worker, with its run.started; `undefined` when it is no longer queued. */
    async claim(id: string, workerId: string, leaseMs: number): Promise<ClaimedRow | undefined> {
      const [row] = await raw.query(CLAIM_SQL, [id, workerId, leaseMs])
      if (!row) return undefined
      const run = toRunRow(row)
      return { run, started: startedEvent(row, run) }
    },

    /** Extends the lease; false when the fence no longer holds (cancelled, finished, re-claimed). */
    async renewLease(id: string, attempt: number, leaseMs: number): Promise<boolean> {
      const rows = await raw.query(
        `update runs set lease_expires_at = now() + $3::int * interval '1 millisecond'
         where id = $1 and attempt = $2 and status = 'running' returning id`,
        [id, attempt, leaseMs],
      )
      return rows.length === 1
    },

    /**
     * running → completed | failed, fenced, storing `items` (pending events, the terminal one last). The ended run
     * and its stored events, or `undefined` when this executor no longer owns the run.
     */
    async finish(
      id: string,
      attempt: number,
      items: readonly EventItem[],
      result: FinishFields,
      messageId: string,
    ): Promise<{ run: RunRow; events: RunEvent[] } | undefined> {
      const completed = result.status === 'completed'
      const rows = await raw.query<{ seq: number | null; created_at: unknown; run: Record<string, unknown> | null }>(FINISH_SQL, [
        id,
        attempt,
        result.status,
        result.output,
        result.usage === null ? null : JSON.stringify(result.usage),
        result.model,
        completed ? null : result.reason,
        completed ? null : result.message,
        JSON.stringify(items),
        items.length,
        messageId,
      ])
      const row = rows[0]
      if (!row || row.seq === null || !row.run) return undefined
      return { run: toRunRow(row.run), events: numberedEvents(id, items, [row]) }
    },

    /** Any active status → cancelled, with its run.cancelled event (returned); `undefined` when the run already ended. */
    async cancel(id: string, reason: string): Promise<RunEvent | undefined> {
      const rows = await raw.query<{ seq: number; created_at: unknown }>(CANCEL_SQL, [id, reason])
      return rows.length === 0 ? undefined : numberedEvents(id, [{ type: 'run.cancelled', data: { reason } }], rows)[0]
    },

    /** running → queued by its own executor (graceful shutdown), fenced. */
    async release(id: string, attempt: number): Promise<boolean> {
      const rows = await raw.query(
        `update runs set status = 'queued', lease_owner = null, lease_expires_at = null, updated_at = now()
         where id = $1 and attempt = $2 and status = 'running' returning id`,
        [id, attempt],
      )
      return rows.length === 1
    },

    /** See RECOVER_EXPIRED_SQL; each recovered run with the event it got. */
    async recoverExpired(maxAttempts: number, limit = 500): Promise<{ id: string; status: 'queued' | 'failed'; attempt: number; event: RunEvent }[]> {
      const rows = await raw.query<Record<string, unknown>>(RECOVER_EXPIRED_SQL, [maxAttempts, limit])
      return rows.map((r) => ({
        id: String(r.id),
        status: r.status as 'queued' | 'failed',
        attempt: Number(r.attempt),
        event: { runId: String(r.id), seq: Number(r.seq), type: r.type as RunEventType, data: r.data as Record<string, unknown>, createdAt: toIso(r.created_at) },
      }))
    },

    /** Queued runs nobody picked up for `olderThanMs` (enqueue lost, process restarted); touched so each is re-sent once per period. */
    async touchStaleQueued(olderThanMs: number, limit = 500): Promise<string[]> {
      const rows = await raw.query<{ id: string }>(
        `update runs set updated_at = now()
         where id in (
           select id from runs where status = 'queued' and updated_at < now() - $1::int * interval '1 millisecond'
           order by updated_at limit $2 for update skip locked
         )
         returning id`,
        [olderThanMs, limit],
      )
      return rows.map((r) => r.id)
    },

    async listQueuedIds(limit = 10_000): Promise<string[]> {
      const rows = await raw.query<{ id: string }>(`select id from runs where status = 'queued' limit $1`, [limit])
      return rows.map((r) => r.id)
    },
  }
}
export type RunsRepo = ReturnType<typeof createRunsRepo>

const asDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)))
const asJson = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T))

/** A `runs` row as returned by raw SQL (snake_case, driver-typed) → the drizzle row type. */
export function toRunRow(raw: Record<string, unknown>): RunRow {
  return {
    id: String(raw.id),
    principalId: String(raw.principal_id),
    agentId: String(raw.agent_id),
    sessionId: (raw.session_id as string | null) ?? null,
    mode: raw.mode as RunRow['mode'],
    status: raw.status as RunRow['status'],
    failureReason: (raw.failure_reason as string | null) ?? null,
    errorMessage: (raw.error_message as string | null) ?? null,
    input: asJson<RunRow['input']>(raw.input),
    output: (raw.output as string | null) ?? null,
    model: (raw.model as string | null) ?? null,
    usage: raw.usage === null || raw.usage === undefined ? null : asJson<RunUsage>(raw.usage),
    idempotencyKey: (raw.idempotency_key as string | null) ?? null,
    requestId: (raw.request_id as string | null) ?? null,
    attempt: Number(raw.attempt),
    leaseOwner: (raw.lease_owner as string | null) ?? null,
    leaseExpiresAt: asDate(raw.lease_expires_at),
    lastEventSeq: Number(raw.last_event_seq),
    createdAt: asDate(raw.created_at)!,
    startedAt: asDate(raw.started_at),
    finishedAt: asDate(raw.finished_at),
    updatedAt: asDate(raw.updated_at)!,
  }
}
