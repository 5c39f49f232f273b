import { type Db, sessionMessages, sessions, type SessionMessageRow, type SessionRow } from '@openvesper/db'
import { asc, eq } from 'drizzle-orm'

/**
 * Session reads; bind to a transaction by passing it as `db`. This package owns `sessions` and `session_messages`:
 * their writes are the SQL fragments of `sessions.sql.ts` (session upsert and touch, transcript entries), which core's
 * single-statement run create and finish compose, so a run, its session and its messages commit together.
 */
export function createSessionsRepo(db: Db) {
  return {
    async findById(id: string): Promise<SessionRow | undefined> {
      const rows = await db.select().from(sessions).where(eq(sessions.id, id)).limit(1)
      return rows[0]
    },

    /** The transcript in order. */
    async transcript(sessionId: string): Promise<SessionMessageRow[]> {
      return db.select().from(sessionMessages).where(eq(sessionMessages.sessionId, sessionId)).orderBy(asc(sessionMessages.seq))
    },
  }
}
export type SessionsRepo = ReturnType<typeof createSessionsRepo>
