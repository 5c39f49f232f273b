import { type Db, type RunMode, type RunRow, type RunUsage, rowsOf, runs } from '@openvesper/db'
import { and, eq, inArray, sql } from 'drizzle-orm'

export interface NewRun {
  id: string
  principalId: string
  agentId: string
  sessionId: string | null
  mode: RunMode
  message: string
  idempotencyKey: string | null
  requestId: string | null
  /** Inline runs (sync, stream) are inserted already claimed by the gateway that executes them. */
  claimBy?: { workerId: string; leaseMs: number }
}

/** Run queries; bind to a transaction by passing it as `db`. Every write after the claim is fenced on `attempt`. */
export function createRunsRepo(db: Db) {
  return {
    /**
     * Inserts a run in a session, in one statement: the session is created on first use (or touched), the run
     * inserted, and the user's message appended to the transcript — all or nothing. `undefined` when the
     * principal already used this idempotency key. A second active run in the session violates
     * `runs_session_id_active_uq`.
     */
    async insertInSession(r: Omit<NewRun, 'sessionId'>, session: { key: string; sessionId: string; messageId: string }): Promise<RunRow | undefined> {
      const claimed = r.claimBy
      const rows = rowsOf<Record<string, unknown>>(
        await db.execute(sql`
          with sess as (
            insert into sessions (id, principal_id, key, agent_id) values (${session.sessionId}, ${r.principalId}, ${session.key}, ${r.agentId})
            on conflict (principal_id, key) do update set updated_at = now()
            returning id
          ), r as (
            insert into runs (id, principal_id, agent_id, session_id, mode, status, input, idempotency_key, request_id, attempt, lease_owner, lease_expires_at, started_at)
            select ${r.id}, ${r.principalId}, ${r.agentId}, sess.id, ${r.mode}, ${claimed ? 'running' : 'queued'}, ${JSON.stringify({ message: r.message })}::jsonb,
              ${r.idempotencyKey}, ${r.requestId}, ${claimed ? 1 : 0}, ${claimed?.workerId ?? null},
              ${claimed ? sql`now() + ${`${claimed.leaseMs} milliseconds`}::interval` : sql`null`}, ${claimed ? sql`now()` : sql`null`}
            from sess
            on conflict (principal_id, idempotency_key) where idempotency_key is not null do nothing
            returning *
          ), m as (
            insert into session_messages (id, session_id, run_id, role, content)
            select ${session.messageId}, r.session_id, r.id, 'user', ${JSON.stringify({ text: r.message })}::jsonb from r
          )
          select * from r`),
      )
      return rows[0] ? toRunRow(rows[0]) : undefined
    },

    /** Inserts a run; `undefined` when the principal already used this idempotency key. */
    async insert(r: NewRun): Promise<RunRow | undefined> {
      const claimed = r.claimBy
      const rows = await db
        .insert(runs)
        .values({
          id: r.id,
          principalId: r.principalId,
          agentId: r.agentId,
          sessionId: r.sessionId,
          mode: r.mode,
          status: claimed ? 'running' : 'queued',
          input: { message: r.message },
          idempotencyKey: r.idempotencyKey,
          requestId: r.requestId,
          attempt: claimed ? 1 : 0,
          leaseOwner: claimed?.workerId ?? null,
          leaseExpiresAt: claimed ? sql`now() + ${`${claimed.leaseMs} milliseconds`}::interval` : null,
          startedAt: claimed ? sql`now()` : null,
        })
        .onConflictDoNothing({ target: [runs.principalId, runs.idempotencyKey], where: sql`${runs.idempotencyKey} is not null` })
        .returning()
      return rows[0]
    },

    async findById(id: string): Promise<RunRow | undefined> {
      const rows = await db.select().from(runs).where(eq(runs.id, id)).limit(1)
      return rows[0]
    },

    async findByIdempotencyKey(principalId: string, key: string): Promise<RunRow | undefined> {
      const rows = await db.select().from(runs).where(and(eq(runs.principalId, principalId), eq(runs.idempotencyKey, key))).limit(1)
      return rows[0]
    },

    /** queued → running for this worker; `undefined` when another worker has it or it is no longer queued. */
    async claim(id: string, workerId: string, leaseMs: number): Promise<RunRow | undefined> {
      const rows = await db
        .update(runs)
        .set({
          status: 'running',
          attempt: sql`${runs.attempt} + 1`,
          leaseOwner: workerId,
          leaseExpiresAt: sql`now() + ${`${leaseMs} milliseconds`}::interval`,
          startedAt: sql`coalesce(${runs.startedAt}, now())`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(runs.id, id), eq(runs.status, 'queued')))
        .returning()
      return rows[0]
    },

    /** Extends the lease; false when the fence no longer holds (cancelled, finished, re-claimed). */
    async renewLease(id: string, attempt: number, leaseMs: number): Promise<boolean> {
      const rows = await db
        .update(runs)
        .set({ leaseExpiresAt: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
        .where(and(eq(runs.id, id), eq(runs.attempt, attempt), eq(runs.status, 'running')))
        .returning({ id: runs.id })
      return rows.length === 1
    },

    /** running → completed | failed, fenced; false when this executor no longer owns the run. */
    async finish(
      id: string,
      attempt: number,
      result:
        | { status: 'completed'; output: string; usage: RunUsage; model: string }
        | { status: 'failed'; reason: string; message: string; output: string | null; usage: RunUsage | null; model: string | null },
    ): Promise<boolean> {
      const rows = await db
        .update(runs)
        .set({
          status: result.status,
          output: result.output,
          usage: result.usage,
          model: result.model,
          failureReason: result.status === 'failed' ? result.reason : null,
          errorMessage: result.status === 'failed' ? result.message : null,
          leaseOwner: null,
          leaseExpiresAt: null,
          finishedAt: sql`now()`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(runs.id, id), eq(runs.attempt, attempt), eq(runs.status, 'running')))
        .returning({ id: runs.id })
      return rows.length === 1
    },

    /** Any active status → cancelled; false when the run already ended. */
    async cancel(id: string): Promise<boolean> {
      const rows = await db
        .update(runs)
        .set({ status: 'cancelled', leaseOwner: null, leaseExpiresAt: null, finishedAt: sql`now()`, updatedAt: sql`now()` })
        .where(and(eq(runs.id, id), inArray(runs.status, ['queued', 'running', 'awaiting_approval'])))
        .returning({ id: runs.id })
      return rows.length === 1
    },

    /** running → queued by its own executor (graceful shutdown), fenced. */
    async release(id: string, attempt: number): Promise<boolean> {
      const rows = await db
        .update(runs)
        .set({ status: 'queued', leaseOwner: null, leaseExpiresAt: null, updatedAt: sql`now()` })
        .where(and(eq(runs.id, id), eq(runs.attempt, attempt), eq(runs.status, 'running')))
        .returning({ id: runs.id })
      return rows.length === 1
    },

    /**
     * Runs whose lease expired: back to queued while attempts remain, else failed with `worker_lost`.
     * One statement, so two reconcilers never both act on a run.
     */
    async recoverExpired(maxAttempts: number, limit = 500): Promise<{ id: string; status: 'queued' | 'failed'; attempt: number }[]> {
      return rowsOf<{ id: string; status: 'queued' | 'failed'; attempt: number }>(
        await db.execute(sql`
          update runs set
            status = case when attempt >= ${maxAttempts} then 'failed' else 'queued' end,
            failure_reason = case when attempt >= ${maxAttempts} then 'worker_lost' else null end,
            error_message = case when attempt >= ${maxAttempts} then 'the worker executing this run was lost' else null end,
            finished_at = case when attempt >= ${maxAttempts} then now() else null end,
            lease_owner = null, lease_expires_at = null, updated_at = now()
          where id in (
            select id from runs where status = 'running' and lease_expires_at < now()
            order by lease_expires_at limit ${limit} for update skip locked
          )
          returning id, status, attempt`),
      )
    },

    /** Queued runs nobody picked up for `olderThanMs` (enqueue lost, process restarted); touched so each is re-sent once per period. */
    async touchStaleQueued(olderThanMs: number, limit = 500): Promise<string[]> {
      const rows = rowsOf<{ id: string }>(
        await db.execute(sql`
          update runs set updated_at = now()
          where id in (
            select id from runs where status = 'queued' and updated_at < now() - ${`${olderThanMs} milliseconds`}::interval
            order by updated_at limit ${limit} for update skip locked
          )
          returning id`),
      )
      return rows.map((r) => r.id)
    },

    async listQueuedIds(limit = 10_000): Promise<string[]> {
      const rows = await db.select({ id: runs.id }).from(runs).where(eq(runs.status, 'queued')).limit(limit)
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
