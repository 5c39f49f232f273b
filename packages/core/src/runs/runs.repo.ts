import { type Db, rawSql, type RunMode, type RunRow, type RunUsage } from '@openvesper/db'
import { createCoalescer } from '@openvesper/shared'
import { sessionTouchCte, sessionUpsertCte, type TranscriptJsonEntry, transcriptInsertCte, transcriptJson } from '@openvesper/sessions'
import { numberedEvents, toIso } from './event-sql.js'
import type { EventItem, RunEvent, RunEventType } from './event-types.js'

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
export type HistoryEntry = TranscriptJsonEntry

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
    returning run_id, created_at
  )`

const INSERT_RUN_COLUMNS = `(id, principal_id, agent_id, session_id, mode, status, input, idempotency_key, request_id, attempt, lease_owner, model, lease_expires_at, started_at, last_event_seq)`
/** The values of INSERT_RUN_COLUMNS in a session (`sess`); a claimed run (`$11` = its lease owner) starts at event 1, its run.started. */
const SESSION_RUN_VALUES = `$1, $2, $3, sess.id, $5, $6, $7::jsonb, $8, $9, $10, $11, $12,
  case when $11::text is null then null else now() + $13::int * interval '1 millisecond' end,
  case when $11::text is null then null else now() end, $10::int`
const ON_IDEMPOTENCY_CONFLICT = `on conflict (principal_id, idempotency_key) where idempotency_key is not null do nothing`

/**
 * Runs outside a session, a batch in one statement (`$1`: a JSON array of `runColumns`), each claimed with its
 * run.started when inline. A run whose idempotency key its principal already used (also earlier in the same batch)
 * returns no row.
 */
const CREATE_RUN_SQL = `
  with i as (
    select * from jsonb_to_recordset($1::jsonb) as i(id text, principal_id text, agent_id text, session_id text, mode text,
      status text, input jsonb, idempotency_key text, request_id text, attempt int, lease_owner text, model text, lease_ms int)
  ), u as (
    insert into runs ${INSERT_RUN_COLUMNS}
    select i.id, i.principal_id, i.agent_id, i.session_id, i.mode, i.status, i.input, i.idempotency_key, i.request_id, i.attempt,
      i.lease_owner, i.model, case when i.lease_owner is null then null else now() + i.lease_ms * interval '1 millisecond' end,
      case when i.lease_owner is null then null else now() end, i.attempt
    from i
    ${ON_IDEMPOTENCY_CONFLICT}
    returning *
  ), ${STARTED_EVENT_CTE}
  select u.*, e.created_at as started_event_at from u left join e on e.run_id = u.id`

/**
 * One statement: the session (created on first use, else touched), the run (claimed with its run.started when
 * inline), the user's message in the transcript and, when `$16`, the transcript before it — all or nothing.
 * The epoch comes from the upsert's row lock, so a reset committed while this statement waited for it holds.
 * A second active run in the session violates `runs_session_id_active_uq`; while runs wait in the session's queue, no
 * run is inserted (no row: the message joins the queue, it does not jump it). The session and transcript parts are
 * `@openvesper/sessions` fragments (that package owns those tables).
 */
const CREATE_RUN_IN_SESSION_SQL = `
  with ${sessionUpsertCte('sess', { id: '$4', principalId: '$2', key: '$14', agentId: '$3' })}, u as (
    insert into runs ${INSERT_RUN_COLUMNS} select ${SESSION_RUN_VALUES} from sess
    where not exists (select 1 from runs w where w.session_id = sess.id and w.waiting and w.status = 'queued')
    ${ON_IDEMPOTENCY_CONFLICT}
    returning *
  ), ${transcriptInsertCte('m', { from: 'u', id: '$15', sessionId: 'u.session_id', runId: 'u.id', role: 'user', text: "u.input->>'message'", epoch: '(select epoch from sess)' })}, ${STARTED_EVENT_CTE}
  select u.*, (select created_at from e) as started_event_at,
    ${transcriptJson({ sessionId: 'u.session_id', when: '$16::boolean', epoch: '(select epoch from sess)' })} as history
  from u`

/**
 * queued → running, attempt + 1, each with the attempt's run.started event: one statement for a batch of claims
 * (`$1` run ids, `$2` their lease owners, `$3` their lease lengths in ms, no id twice). A run that is no longer
 * queued returns no row.
 */
const CLAIM_SQL = `
  with i as (
    select * from unnest($1::text[], $2::text[], $3::int[]) as i(id, owner, lease_ms)
  ), u as (
    update runs r set status = 'running', attempt = r.attempt + 1, lease_owner = i.owner,
      lease_expires_at = now() + i.lease_ms * interval '1 millisecond', started_at = coalesce(r.started_at, now()),
      updated_at = now(), last_event_seq = r.last_event_seq + 1
    from i
    where r.id = i.id and r.status = 'queued' and not r.waiting
    returning r.*
  ), ${STARTED_EVENT_CTE}
  select u.*, e.created_at as started_event_at from u join e on e.run_id = u.id`

/**
 * Fenced finalisation of a batch of runs (`$1`: a JSON array of FinishInput). For each run whose attempt still
 * holds: the status, the events still pending and the terminal one (the last item) and, for a completed run in a
 * session, the assistant's transcript entry and the session's touch commit together. One row per finished run:
 * its id, the first stored seq, the events' time and the ended run. The transcript entry and the touch are
 * `@openvesper/sessions` fragments.
 */
const FINISH_SQL = `
  with i as (
    select * from jsonb_to_recordset($1::jsonb) as i(id text, attempt int, status text, output text, usage jsonb, model text,
      reason text, message text, events jsonb, message_id text)
  ), u as (
    update runs r set status = i.status, output = i.output, usage = i.usage, model = i.model, failure_reason = i.reason,
      error_message = i.message, lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
      last_event_seq = r.last_event_seq + jsonb_array_length(i.events)
    from i
    where r.id = i.id and r.attempt = i.attempt and r.status = 'running'
    returning r.*, i.events as finish_events, i.message_id as finish_message_id
  ), ev as (
    insert into run_events (run_id, seq, type, data)
    select u.id, u.last_event_seq - jsonb_array_length(u.finish_events) + e.ord::int, e.value->>'type', e.value->'data'
    from u, jsonb_array_elements(u.finish_events) with ordinality as e(value, ord)
    returning run_id, seq, created_at
  ), ${transcriptInsertCte('m', {
    from: 'u',
    where: "u.session_id is not null and u.status = 'completed'",
    id: 'u.finish_message_id',
    sessionId: 'u.session_id',
    runId: 'u.id',
    role: 'assistant',
    text: 'u.output',
  })}, ${sessionTouchCte('s', "select u.session_id from u where u.status = 'completed'")}
  select u.id, (select min(ev.seq) from ev where ev.run_id = u.id) as seq,
    (select min(ev.created_at) from ev where ev.run_id = u.id) as created_at,
    to_jsonb(u.*) - 'finish_events' - 'finish_message_id' as run
  from u`

/** Any active status → cancelled, with its run.cancelled event. */
const CANCEL_SQL = `
  with u as (
    update runs set status = 'cancelled', waiting = false, lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
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

interface ClaimInput {
  id: string
  workerId: string
  leaseMs: number
}

/** One run of a FINISH_SQL batch, as its JSON input names it. */
interface FinishInput {
  id: string
  attempt: number
  status: 'completed' | 'failed'
  output: string | null
  usage: RunUsage | null
  model: string | null
  reason: string | null
  message: string | null
  events: readonly EventItem[]
  message_id: string
}

type Finished = { run: RunRow; events: RunEvent[] } | undefined

/** The column values of a new run: claimed (attempt 1, leased) when it executes inline, else queued. */
const runColumns = (r: NewRun) => ({
  id: r.id,
  principal_id: r.principalId,
  agent_id: r.agentId,
  session_id: r.sessionId,
  mode: r.mode,
  status: r.claimBy ? 'running' : 'queued',
  input: { message: r.message },
  idempotency_key: r.idempotencyKey,
  request_id: r.requestId,
  attempt: r.claimBy ? 1 : 0,
  lease_owner: r.claimBy?.workerId ?? null,
  model: r.model ?? null,
  lease_ms: r.claimBy?.leaseMs ?? 0,
})

const repos = new WeakMap<Db, ReturnType<typeof buildRunsRepo>>()

/**
 * Run queries over `db`: one repository per database handle, so the claims and finishes of every run in the
 * process share their batches. The hot ones (create, claim, finish, cancel, lookups) are single hand-written
 * statements sent through `rawSql` (prepared, no query builder); every write after the claim is fenced on `attempt`.
 */
export function createRunsRepo(db: Db) {
  let repo = repos.get(db)
  if (!repo) repos.set(db, (repo = buildRunsRepo(db)))
  return repo
}

function buildRunsRepo(db: Db) {
  const raw = rawSql(db)

  const createOne = createCoalescer<NewRun, CreatedRow | undefined>(async (runs) => {
    const rows = await raw.query<Record<string, unknown>>(CREATE_RUN_SQL, [JSON.stringify(runs.map(runColumns))])
    const byId = new Map(rows.map((row) => [String(row.id), row]))
    return runs.map((r) => {
      const row = byId.get(r.id)
      if (!row) return undefined
      const run = toRunRow(row)
      return { run, started: r.claimBy ? startedEvent(row, run) : undefined }
    })
  })

  const claimOne = createCoalescer<ClaimInput, ClaimedRow | undefined>(async (inputs) => {
    // A run asked for twice in one batch (a duplicate job) is claimed by the first ask only, as it would be one by one.
    const first = new Map<string, ClaimInput>()
    for (const c of inputs) if (!first.has(c.id)) first.set(c.id, c)
    const unique = [...first.values()]
    const rows = await raw.query<Record<string, unknown>>(CLAIM_SQL, [unique.map((c) => c.id), unique.map((c) => c.workerId), unique.map((c) => c.leaseMs)])
    const byId = new Map(rows.map((row) => [String(row.id), row]))
    return inputs.map((c) => {
      const row = byId.get(c.id)
      if (!row || first.get(c.id) !== c) return undefined
      const run = toRunRow(row)
      return { run, started: startedEvent(row, run) }
    })
  })

  const finishOne = createCoalescer<FinishInput, Finished>(async (inputs) => {
    const rows = await raw.query<{ id: string; seq: number | null; created_at: unknown; run: Record<string, unknown> }>(FINISH_SQL, [JSON.stringify(inputs)])
    // Keyed by attempt too: of two attempts of one run in a batch, only the one whose fence held has a row.
    const byAttempt = new Map(rows.map((row) => [`${row.id}#${Number(row.run.attempt)}`, row]))
    return inputs.map((f) => {
      const row = byAttempt.get(`${f.id}#${f.attempt}`)
      if (!row || row.seq === null) return undefined
      return { run: toRunRow(row.run), events: numberedEvents(f.id, f.events, [row]) }
    })
  })

  return {
    /**
     * Inserts a run — in its session when `session` is given (see CREATE_RUN_IN_SESSION_SQL) — in one statement.
     * `undefined` when the principal already used this idempotency key, or runs wait in the session.
     */
    async create(r: NewRun, session?: { key: string; sessionId: string; messageId: string; withHistory: boolean }): Promise<CreatedRow | undefined> {
      if (!session) return createOne(r)
      const c = runColumns(r)
      const rows = await raw.query(CREATE_RUN_IN_SESSION_SQL, [
        c.id,
        c.principal_id,
        c.agent_id,
        session.sessionId, // the session is inserted under this id on first use
        c.mode,
        c.status,
        JSON.stringify(c.input),
        c.idempotency_key,
        c.request_id,
        c.attempt,
        c.lease_owner,
        c.model,
        c.lease_ms,
        session.key,
        session.messageId,
        session.withHistory,
      ])
      const row = rows[0]
      if (!row) return undefined
      const run = toRunRow(row)
      return {
        run,
        started: r.claimBy ? startedEvent(row, run) : undefined,
        history: session.withHistory ? ((row.history as HistoryEntry[] | null) ?? []) : undefined,
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
      return claimOne({ id, workerId, leaseMs })
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
    async finish(id: string, attempt: number, items: readonly EventItem[], result: FinishFields, messageId: string): Promise<Finished> {
      const completed = result.status === 'completed'
      return finishOne({
        id,
        attempt,
        status: result.status,
        output: result.output,
        usage: result.usage,
        model: result.model,
        reason: completed ? null : result.reason,
        message: completed ? null : result.message,
        events: items,
        message_id: messageId,
      })
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
        event: {
          runId: String(r.id),
          seq: Number(r.seq),
          type: r.type as RunEventType,
          data: r.data as Record<string, unknown>,
          createdAt: toIso(r.created_at),
        },
      }))
    },

    /** Queued runs nobody picked up for `olderThanMs` (enqueue lost, process restarted); touched so each is re-sent once per period. */
    async touchStaleQueued(olderThanMs: number, limit = 500): Promise<string[]> {
      const rows = await raw.query<{ id: string }>(
        `update runs set updated_at = now()
         where id in (
           select id from runs where status = 'queued' and not waiting and updated_at < now() - $1::int * interval '1 millisecond'
           order by updated_at limit $2 for update skip locked
         )
         returning id`,
        [olderThanMs, limit],
      )
      return rows.map((r) => r.id)
    },

    async listQueuedIds(limit = 10_000): Promise<string[]> {
      const rows = await raw.query<{ id: string }>(`select id from runs where status = 'queued' and not waiting limit $1`, [limit])
      return rows.map((r) => r.id)
    },
  }
}
export type RunsRepo = ReturnType<typeof buildRunsRepo>

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
    waiting: raw.waiting === true,
    createdAt: asDate(raw.created_at)!,
    startedAt: asDate(raw.started_at),
    finishedAt: asDate(raw.finished_at),
    updatedAt: asDate(raw.updated_at)!,
  }
}
