import { type Db, sessionMessages, sessions, type MessageRole, type SessionMessageRow, type SessionRow } from '@openvesper/db'
import { newId } from '@openvesper/shared'
import { and, asc, eq } from 'drizzle-orm'

/** Session queries; bind to a transaction by passing it as `db`. */
export function createSessionsRepo(db: Db) {
  return {
    /** The principal's session with this key, created on first use (race-free: unique (principal, key)). */
    async getOrCreate(input: { principalId: string; key: string; agentId: string }): Promise<SessionRow> {
      const inserted = await db
        .insert(sessions)
        .values({ id: newId('session'), principalId: input.principalId, key: input.key, agentId: input.agentId })
        .onConflictDoNothing({ target: [sessions.principalId, sessions.key] })
        .returning()
      if (inserted[0]) return inserted[0]
      const existing = await this.findByKey(input.principalId, input.key)
      if (!existing) throw new Error('session vanished between insert and select')
      return existing
    },

    async findByKey(principalId: string, key: string): Promise<SessionRow | undefined> {
      const rows = await db.select().from(sessions).where(and(eq(sessions.principalId, principalId), eq(sessions.key, key))).limit(1)
      return rows[0]
    },

    async findById(id: string): Promise<SessionRow | undefined> {
      const rows = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1)
      return rows[0]
    },

    async appendMessage(input: { sessionId: string; runId: string | null; role: MessageRole; content: Record<string, unknown> }): Promise<SessionMessageRow> {
      const [row] = await db
        .insert(sessionMessages)
        .values({ id: newId('message'), sessionId: input.sessionId, runId: input.runId, role: input.role, content: input.content })
        .returning()
      await db.update(sessions).set({ updatedAt: new Date() }).where(eq(sessions.id, input.sessionId))
      return row!
    },

    /** The transcript in order. */
    async transcript(sessionId: string): Promise<SessionMessageRow[]> {
      return db.select().from(sessionMessages).where(eq(sessionMessages.sessionId, sessionId)).orderBy(asc(sessionMessages.seq))
    },
  }
}
export type SessionsRepo = ReturnType<typeof createSessionsRepo>
