import { type CommitmentRow, commitments, type CommitmentStatus, type Db, rowsOf } from '@openvesper/db'
import { and, asc, eq, sql } from 'drizzle-orm'

/** The `commitments` queries; the only writer of the table. Every lookup by id is by (principal, id). */
export function createCommitmentsRepo(db: Db) {
  const owned = (principalId: string, id: string) => and(eq(commitments.principalId, principalId), eq(commitments.id, id))
  return {
    async insert(row: Pick<CommitmentRow, 'id' | 'principalId' | 'agentId' | 'sessionKey' | 'text' | 'dueAt' | 'sourceRunId'>): Promise<CommitmentRow> {
      const [created] = await db.insert(commitments).values(row).returning()
      return created!
    },

    async find(principalId: string, id: string): Promise<CommitmentRow | undefined> {
      const [row] = await db.select().from(commitments).where(owned(principalId, id))
      return row
    },

    async list(principalId: string, filter: { status?: CommitmentStatus; sessionKey?: string }, limit: number): Promise<CommitmentRow[]> {
      return db
        .select()
        .from(commitments)
        .where(
          and(
            eq(commitments.principalId, principalId),
            filter.status ? eq(commitments.status, filter.status) : undefined,
            filter.sessionKey ? eq(commitments.sessionKey, filter.sessionKey) : undefined,
          ),
        )
        .orderBy(asc(commitments.dueAt), asc(commitments.id))
        .limit(limit)
    },

    /** Moves an open commitment to `status` (fenced: only from `open`); undefined when it is not open or not the caller's. */
    async close(principalId: string, id: string, status: 'fulfilled' | 'cancelled', note: string | null): Promise<CommitmentRow | undefined> {
      const [row] = await db
        .update(commitments)
        .set({ status, note, updatedAt: sql`now()` })
        .where(and(owned(principalId, id), eq(commitments.status, 'open')))
        .returning()
      return row
    },

    /**
     * Claims open commitments that fell due (database clock): each moves to `followed_up` in one fenced statement
     * (`skip locked`), so however many instances sweep, one of them claims it, once.
     */
    async claimDue(limit: number): Promise<CommitmentRow[]> {
      const rows = rowsOf<{ id: string }>(
        await db.execute(sql`
          update commitments set status = 'followed_up', updated_at = now()
          where id in (select id from commitments where status = 'open' and due_at <= now() order by due_at limit ${limit} for update skip locked)
            and status = 'open'
          returning id`),
      )
      if (rows.length === 0) return []
      return db
        .select()
        .from(commitments)
        .where(
          sql`${commitments.id} in (${sql.join(
            rows.map((r) => sql`${r.id}`),
            sql`, `,
          )})`,
        )
    },

    /** Claimed commitments whose follow-up run was never recorded (the claimer died), older than `olderThanMs`. */
    async strandedFollowUps(olderThanMs: number, limit: number): Promise<CommitmentRow[]> {
      return db
        .select()
        .from(commitments)
        .where(
          and(
            eq(commitments.status, 'followed_up'),
            sql`${commitments.followUpRunId} is null and ${commitments.updatedAt} < now() - ${olderThanMs} * interval '1 millisecond'`,
          ),
        )
        .limit(limit)
    },

    async setFollowUp(id: string, runId: string | null, note: string | null): Promise<void> {
      await db
        .update(commitments)
        .set({ followUpRunId: runId, ...(note ? { note } : {}), updatedAt: sql`now()` })
        .where(eq(commitments.id, id))
    },

    /** Gives back a claim whose follow-up could not start yet (fenced: only a claim without a run). */
    async reopen(id: string): Promise<void> {
      await db
        .update(commitments)
        .set({ status: 'open', updatedAt: sql`now()` })
        .where(and(eq(commitments.id, id), eq(commitments.status, 'followed_up'), sql`${commitments.followUpRunId} is null`))
    },

    /** The key of a session by id (read-only: the sessions package writes that table). */
    async sessionKeyOf(sessionId: string): Promise<string | undefined> {
      const [row] = rowsOf<{ key: string }>(await db.execute(sql`select key from sessions where id = ${sessionId}`))
      return row?.key
    },
  }
}
