import { sql } from 'drizzle-orm'
import { bigserial, index, integer, jsonb, pgTable, text, timestamp, unique } from 'drizzle-orm/pg-core'

/**
 * A conversation addressed by a caller-chosen key (see `@openvesper/sessions` key rule), owned by one principal.
 * `epoch` counts resets: the model sees only the messages of the current epoch; older ones stay readable.
 * `updated_at` is the last activity (a run created or completed in it).
 * @writer packages/sessions — the session statements live in packages/sessions (core's run statements compose its fragments)
 */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    key: text('key').notNull(),
    agentId: text('agent_id').notNull(),
    epoch: integer('epoch').notNull().default(0),
    /** What a message does while the session is busy (`reject`, `followup`, `collect`, `steer`, `interrupt`); null: the agent's or the default. */
    queueMode: text('queue_mode'),
    /** When the current epoch began with a reset; null when it never was reset. */
    resetAt: timestamp('reset_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [unique('sessions_principal_id_key_uq').on(t.principalId, t.key), index('sessions_principal_id_updated_at_idx').on(t.principalId, t.updatedAt, t.id)],
)
export type SessionRow = typeof sessions.$inferSelect

export const MESSAGE_ROLES = ['user', 'assistant', 'tool'] as const
export type MessageRole = (typeof MESSAGE_ROLES)[number]

/**
 * The transcript. `content` holds the provider-neutral message (text, tool calls or a tool result). `epoch` is the
 * session's epoch when the message was written: a message of an earlier epoch is before a reset.
 * @writer packages/sessions — the transcript statements live in packages/sessions (core's run statements compose its fragments)
 */
export const sessionMessages = pgTable(
  'session_messages',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: text('id').notNull().unique('session_messages_id_uq'),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    runId: text('run_id'),
    role: text('role', { enum: MESSAGE_ROLES }).notNull(),
    epoch: integer('epoch').notNull().default(0),
    content: jsonb('content').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [index('session_messages_session_id_seq_idx').on(t.sessionId, t.seq)],
)
export type SessionMessageRow = typeof sessionMessages.$inferSelect
