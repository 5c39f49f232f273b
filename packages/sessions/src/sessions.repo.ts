import { ACTIVE_RUN_STATUSES, type Db, rowsOf, type SessionMessageRow, type SessionRow, sessionMessages, sessions } from '@openvesper/db'
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm'
import { CONTEXT_MESSAGES_MAX } from './tokens.js'

/**
 * The session tables' queries; the only writer of `sessions` and `session_messages`. The writes a run makes in its
 * session (upsert and touch, transcript entries) are the SQL fragments of `sessions.sql.ts`, which core's
 * single-statement run create and finish compose, so a run, its session and its messages commit together; every
 * other write (reset, agent switch, fork, branch, delete, prune) is here. Every lookup is by (principal, key): a
 * session of another principal does not exist for the caller.
 */

/** A session with what its listing shows. `activityUs`: `updated_at` in microseconds since the epoch (the cursor). */
export interface SessionSummaryRow extends SessionRow {
  messageCount: number
  activeRunId: string | null
  activityUs: string
}

export interface ListSessionsQuery {
  agentId?: string
  /** Last activity at or after. */
  activeSince?: Date
  /** Last activity strictly before. */
  activeBefore?: Date
  /** Continue after this (activity, id) position, newest first. */
  after?: { activityUs: string; id: string }
  limit: number
}

export interface MessagesQuery {
  order: 'asc' | 'desc'
  /** Continue after this `seq` in `order`. */
  afterSeq?: number
  limit: number
}

/** A run waiting in a session's queue (queue modes `followup`, `collect`), in arrival order. */
export interface WaitingRunRow {
  id: string
  message: string
  /** How many messages a `collect` run merged (1 otherwise). */
  messages: number
  createdAt: Date
}

export type GuardedResult<T> = { ok: true; value: T } | { ok: false; reason: 'missing' } | { ok: false; reason: 'busy'; runId: string }
export type CopyResult = { ok: true; session: SessionRow } | { ok: false; reason: 'missing' | 'exists' | 'no_message' }

/** The active run statuses as a parameter list (`$1, $2, $3`). */
const ACTIVE = sql.join(
  ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
  sql`, `,
)

/** The active run of a session, if any (at most one not waiting: `runs_session_id_active_uq`); else its first waiting one. */
const activeRunOf = (sessionId: SQL | string) =>
  sql`(select r.id from runs r where r.session_id = ${sessionId} and r.status in (${ACTIVE}) order by r.waiting, r.created_at, r.id limit 1)`

/** Written out qualified: drizzle renders a lone table's columns unqualified, which a subquery would rebind. */
const summaryColumns = {
  messageCount: sql<number>`(select count(*)::int from session_messages m where m.session_id = "sessions"."id")`.as('message_count'),
  activeRunId: sql<string | null>`${activeRunOf(sql`"sessions"."id"`)}`.as('active_run_id'),
  activityUs: sql<string>`(extract(epoch from "sessions"."updated_at") * 1000000)::bigint::text`.as('activity_us'),
}

/** `timestamptz` from microseconds since the epoch, exactly. */
const fromMicros = (us: string) => sql`(timestamptz 'epoch' + ${us}::bigint * interval '1 microsecond')`

export function createSessionsRepo(db: Db) {
  const byKey = (principalId: string, key: string) => and(eq(sessions.principalId, principalId), eq(sessions.key, key))

  /**
   * Copies `fromSessionId`'s messages (those `where` keeps) to `toSessionId` in order, keeping epochs, runs and times;
   * each copy gets a new id of the `newId('message')` shape (`msg_` + 32 hex digits).
   */
  const copyMessages = (tx: Pick<Db, 'execute'>, fromSessionId: string, toSessionId: string, where: SQL = sql`true`) =>
    tx.execute(sql`
      insert into session_messages (id, session_id, run_id, role, content, epoch, created_at)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''), ${toSessionId}, m.run_id, m.role, m.content, m.epoch, m.created_at
      from session_messages m where m.session_id = ${fromSessionId} and ${where}
      order by m.seq`)

  return {
    async findById(id: string): Promise<SessionRow | undefined> {
      const rows = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1)
      return rows[0]
    },

    async findByKey(principalId: string, key: string): Promise<SessionRow | undefined> {
      const rows = await db.select().from(sessions).where(byKey(principalId, key)).limit(1)
      return rows[0]
    },

    /** The session with its counts and active run. */
    async summary(principalId: string, key: string): Promise<SessionSummaryRow | undefined> {
      const rows = await db
        .select({ s: sessions, ...summaryColumns })
        .from(sessions)
        .where(byKey(principalId, key))
        .limit(1)
      const row = rows[0]
      return row && { ...row.s, messageCount: row.messageCount, activeRunId: row.activeRunId, activityUs: row.activityUs }
    },

    /** A page of the principal's sessions, latest activity first (ties by id, descending). */
    async list(principalId: string, q: ListSessionsQuery): Promise<SessionSummaryRow[]> {
      const where = [eq(sessions.principalId, principalId)]
      if (q.agentId !== undefined) where.push(eq(sessions.agentId, q.agentId))
      if (q.activeSince) where.push(sql`${sessions.updatedAt} >= ${q.activeSince.toISOString()}::timestamptz`)
      if (q.activeBefore) where.push(sql`${sessions.updatedAt} < ${q.activeBefore.toISOString()}::timestamptz`)
      if (q.after) where.push(sql`(${sessions.updatedAt}, ${sessions.id}) < (${fromMicros(q.after.activityUs)}, ${q.after.id})`)
      const rows = await db
        .select({ s: sessions, ...summaryColumns })
        .from(sessions)
        .where(and(...where))
        .orderBy(sql`${sessions.updatedAt} desc, ${sessions.id} desc`)
        .limit(q.limit)
      return rows.map((r) => ({ ...r.s, messageCount: r.messageCount, activeRunId: r.activeRunId, activityUs: r.activityUs }))
    },

    /** Every message in order, all epochs. */
    async transcript(sessionId: string): Promise<SessionMessageRow[]> {
      return db.select().from(sessionMessages).where(eq(sessionMessages.sessionId, sessionId)).orderBy(asc(sessionMessages.seq))
    },

    /** What the model sees: the newest messages (CONTEXT_MESSAGES_MAX) of the session's current epoch (since its last reset), in order. */
    async contextTranscript(sessionId: string): Promise<SessionMessageRow[]> {
      const newest = await db
        .select()
        .from(sessionMessages)
        .where(
          and(
            eq(sessionMessages.sessionId, sessionId),
            sql`${sessionMessages.epoch} = coalesce((select s.epoch from sessions s where s.id = ${sessionId}), 0)`,
          ),
        )
        .orderBy(desc(sessionMessages.seq))
        .limit(CONTEXT_MESSAGES_MAX)
      return newest.reverse()
    },

    /** Input and output tokens of the session's runs (provider usage or estimates), and whether any is an estimate. */
    async usage(sessionId: string): Promise<{ inputTokens: number; outputTokens: number; estimated: boolean; runs: number }> {
      const [row] = rowsOf<{ input: string | null; output: string | null; estimated: boolean | null; runs: number }>(
        await db.execute(sql`
          select sum((usage->>'inputTokens')::bigint)::text as input, sum((usage->>'outputTokens')::bigint)::text as output,
            bool_or(coalesce((usage->>'estimated')::boolean, false)) as estimated, count(*)::int as runs
          from runs where session_id = ${sessionId} and usage is not null`),
      )
      return { inputTokens: Number(row?.input ?? 0), outputTokens: Number(row?.output ?? 0), estimated: row?.estimated ?? false, runs: Number(row?.runs ?? 0) }
    },

    /** A page of the transcript (all epochs) in `order`. */
    async messages(sessionId: string, q: MessagesQuery): Promise<SessionMessageRow[]> {
      const where = [eq(sessionMessages.sessionId, sessionId)]
      if (q.afterSeq !== undefined) where.push(q.order === 'asc' ? sql`${sessionMessages.seq} > ${q.afterSeq}` : sql`${sessionMessages.seq} < ${q.afterSeq}`)
      return db
        .select()
        .from(sessionMessages)
        .where(and(...where))
        .orderBy(q.order === 'asc' ? sql`${sessionMessages.seq} asc` : sql`${sessionMessages.seq} desc`)
        .limit(q.limit)
    },

    async findMessage(sessionId: string, messageId: string): Promise<SessionMessageRow | undefined> {
      const rows = await db
        .select()
        .from(sessionMessages)
        .where(and(eq(sessionMessages.sessionId, sessionId), eq(sessionMessages.id, messageId)))
        .limit(1)
      return rows[0]
    },

    /**
     * Runs `change` on the session locked (`for update`) unless a run is active in it. The lock orders this against
     * a run's create statement (whose upsert takes the same row lock), and the active-run check is a later
     * statement, so it sees a run committed while this waited.
     */
    async whenIdle<T>(principalId: string, key: string, change: (tx: Pick<Db, 'execute'>, session: SessionRow) => Promise<T>): Promise<GuardedResult<T>> {
      return db.transaction(async (tx) => {
        const [session] = await tx.select().from(sessions).where(byKey(principalId, key)).for('update')
        if (!session) return { ok: false, reason: 'missing' }
        const [busy] = rowsOf<{ id: string | null }>(await tx.execute(sql`select ${activeRunOf(session.id)} as id`))
        if (busy?.id) return { ok: false, reason: 'busy', runId: busy.id }
        return { ok: true, value: await change(tx, session) }
      })
    },

    /** Drops the session and its transcript (cascade) unless a run is active in it. Its runs stay, detached. */
    async delete(principalId: string, key: string): Promise<GuardedResult<void>> {
      return this.whenIdle(principalId, key, async (tx, session) => {
        await tx.execute(sql`delete from sessions where id = ${session.id}`)
      })
    },

    /** Starts a new epoch (the model sees no earlier message) unless a run is active in it. */
    async reset(principalId: string, key: string): Promise<GuardedResult<SessionRow>> {
      return this.whenIdle(principalId, key, async (tx) => {
        const [row] = await (tx as Db)
          .update(sessions)
          .set({ epoch: sql`${sessions.epoch} + 1`, resetAt: sql`now()` })
          .where(byKey(principalId, key))
          .returning()
        return row!
      })
    },

    /** Sets (or, with null, clears) the session's queue mode. */
    async setQueueMode(principalId: string, key: string, queueMode: string | null): Promise<SessionRow | undefined> {
      const [row] = await db.update(sessions).set({ queueMode }).where(byKey(principalId, key)).returning()
      return row
    },

    /** The runs waiting in the session's queue, in the order they will start. */
    async waitingRuns(sessionId: string): Promise<WaitingRunRow[]> {
      const rows = rowsOf<{ id: string; message: string; messages: number; created_at: string | Date }>(
        await db.execute(sql`
          select r.id, r.input->>'message' as message, coalesce((r.input->>'collected')::int, 1) as messages, r.created_at
          from runs r where r.session_id = ${sessionId} and r.waiting and r.status = 'queued'
          order by r.created_at, r.id`),
      )
      return rows.map((r) => ({ id: r.id, message: r.message, messages: Number(r.messages), createdAt: new Date(r.created_at) }))
    },

    async setAgent(principalId: string, key: string, agentId: string): Promise<SessionRow | undefined> {
      const [row] = await db.update(sessions).set({ agentId }).where(byKey(principalId, key)).returning()
      return row
    },

    /** A copy of the whole session (settings, epoch, every message) under `targetKey`. */
    async fork(principalId: string, key: string, targetKey: string, newSessionId: string): Promise<CopyResult> {
      return db.transaction(async (tx) => {
        const [source] = await tx.select().from(sessions).where(byKey(principalId, key)).for('share')
        if (!source) return { ok: false, reason: 'missing' }
        const [created] = await tx
          .insert(sessions)
          .values({ id: newSessionId, principalId, key: targetKey, agentId: source.agentId, epoch: source.epoch, resetAt: source.resetAt })
          .onConflictDoNothing()
          .returning()
        if (!created) return { ok: false, reason: 'exists' }
        await copyMessages(tx, source.id, created.id)
        return { ok: true, session: created }
      })
    },

    /**
     * A new session under `targetKey` whose transcript is the original's up to and including `messageId` (epochs kept),
     * in that message's epoch: the model sees what it saw when that message was written.
     */
    async branch(principalId: string, key: string, messageId: string, targetKey: string, newSessionId: string): Promise<CopyResult> {
      return db.transaction(async (tx) => {
        const [source] = await tx.select().from(sessions).where(byKey(principalId, key)).for('share')
        if (!source) return { ok: false, reason: 'missing' }
        const [message] = await tx
          .select()
          .from(sessionMessages)
          .where(and(eq(sessionMessages.sessionId, source.id), eq(sessionMessages.id, messageId)))
          .limit(1)
        if (!message) return { ok: false, reason: 'no_message' }
        const [created] = await tx
          .insert(sessions)
          .values({
            id: newSessionId,
            principalId,
            key: targetKey,
            agentId: source.agentId,
            epoch: message.epoch,
            // The original's last reset began the branch's epoch only when the message is of the current epoch.
            resetAt: message.epoch === source.epoch ? source.resetAt : null,
          })
          .onConflictDoNothing()
          .returning()
        if (!created) return { ok: false, reason: 'exists' }
        await copyMessages(tx, source.id, created.id, sql`m.seq <= ${message.seq}`)
        return { ok: true, session: created }
      })
    },

    /**
     * The principal's sessions idle (no activity) for longer than `idleMs` and with no active run: dropped, or only
     * counted when `dryRun`. A run created meanwhile touches the row, and the re-checked condition keeps it.
     */
    async prune(principalId: string, idleMs: number, dryRun: boolean): Promise<number> {
      const idle = sql`s.principal_id = ${principalId} and s.updated_at < now() - ${idleMs}::bigint * interval '1 millisecond'
        and not exists (select 1 from runs r where r.session_id = s.id and r.status in (${ACTIVE}))`
      const [row] = rowsOf<{ n: number }>(
        await db.execute(
          dryRun
            ? sql`select count(*)::int as n from sessions s where ${idle}`
            : sql`with d as (delete from sessions s where ${idle} returning 1) select count(*)::int as n from d`,
        ),
      )
      return Number(row?.n ?? 0)
    },
  }
}
export type SessionsRepo = ReturnType<typeof createSessionsRepo>
