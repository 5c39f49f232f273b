import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

export const RUN_STATUSES = ['queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'] as const
export type RunStatus = (typeof RUN_STATUSES)[number]
export const ACTIVE_RUN_STATUSES = ['queued', 'running', 'awaiting_approval'] as const satisfies readonly RunStatus[]
export const TERMINAL_RUN_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly RunStatus[]

export const RUN_MODES = ['sync', 'async', 'stream'] as const
export type RunMode = (typeof RUN_MODES)[number]

/** What started a run: the user message; a merged (`collect`) run also counts the messages it merged. */
export interface RunInput {
  message: string
  /** `collect` on a waiting run that later messages may merge into. */
  queueMode?: 'collect'
  /** How many messages were merged into `message` (absent: one). */
  collected?: number
}

export interface RunUsage {
  inputTokens: number
  outputTokens: number
  /** True when the provider reported no usage and the counts are a tokenizer's estimate. */
  estimated?: boolean
}

/**
 * The authority on a run's state. A worker claims a run by moving it from `queued` to `running`
 * (incrementing `attempt`, recording `lease_owner`); every later write is fenced on `attempt`.
 * @writer packages/core — runs.repo.ts creates, claims, leases and finishes runs
 */
export const runs = pgTable(
  'runs',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    agentId: text('agent_id').notNull(),
    sessionId: text('session_id'),
    mode: text('mode', { enum: RUN_MODES }).notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull(),
    failureReason: text('failure_reason'),
    errorMessage: text('error_message'),
    input: jsonb('input').$type<RunInput>().notNull(),
    output: text('output'),
    model: text('model'),
    usage: jsonb('usage').$type<RunUsage>(),
    idempotencyKey: text('idempotency_key'),
    requestId: text('request_id'),
    attempt: integer('attempt').notNull().default(0),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    lastEventSeq: integer('last_event_seq').notNull().default(0),
    /**
     * Queued behind its session's active run (queue modes `followup`, `collect`): not claimable until the session's
     * queue promotes it, in arrival order, when the active run ends. Its user message enters the transcript then.
     */
    waiting: boolean('waiting').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    check('runs_status_ck', sql`${t.status} in ('queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled')`),
    check('runs_mode_ck', sql`${t.mode} in ('sync', 'async', 'stream')`),
    check('runs_failure_reason_ck', sql`(${t.status} = 'failed') = (${t.failureReason} is not null)`),
    uniqueIndex('runs_principal_id_idempotency_key_uq').on(t.principalId, t.idempotencyKey).where(sql`${t.idempotencyKey} is not null`),
    uniqueIndex('runs_session_id_active_uq')
      .on(t.sessionId)
      .where(sql`${t.sessionId} is not null and ${t.status} in ('queued', 'running', 'awaiting_approval') and not ${t.waiting}`),
    index('runs_session_id_waiting_idx').on(t.sessionId, t.createdAt, t.id).where(sql`${t.waiting}`),
    index('runs_status_lease_expires_at_idx').on(t.status, t.leaseExpiresAt),
    index('runs_principal_id_created_at_idx').on(t.principalId, t.createdAt),
    index('runs_session_id_idx').on(t.sessionId),
  ],
)
export type RunRow = typeof runs.$inferSelect

/**
 * Every event of a run, in order. `(run_id, seq)` is the resume cursor of SSE and WebSocket clients.
 * @writer packages/core — run events are appended by core (runs.repo.ts, events)
 */
export const runEvents = pgTable(
  'run_events',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [primaryKey({ name: 'run_events_pk', columns: [t.runId, t.seq] })],
)
export type RunEventRow = typeof runEvents.$inferSelect

export const TOOL_CALL_STATUSES = ['started', 'succeeded', 'failed'] as const
export type ToolCallStatus = (typeof TOOL_CALL_STATUSES)[number]

/**
 * Tool-call ledger: one row per (run, step, tool call id), so a re-executed run never repeats a side effect.
 * @writer packages/core — the tool-call ledger is written by executeRun
 */
export const toolCalls = pgTable(
  'tool_calls',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    step: integer('step').notNull(),
    toolCallId: text('tool_call_id').notNull(),
    name: text('name').notNull(),
    argsHash: text('args_hash').notNull(),
    args: jsonb('args').$type<unknown>().notNull(),
    status: text('status', { enum: TOOL_CALL_STATUSES }).notNull(),
    result: text('result'),
    isError: boolean('is_error').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    primaryKey({ name: 'tool_calls_pk', columns: [t.runId, t.step, t.toolCallId] }),
    check('tool_calls_status_ck', sql`${t.status} in ('started', 'succeeded', 'failed')`),
  ],
)
export type ToolCallRow = typeof toolCalls.$inferSelect
