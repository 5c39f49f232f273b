import { sql } from 'drizzle-orm'
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'
import { runs } from './runs.js'

export const APPROVAL_ACTIONS = ['allow', 'deny', 'ask'] as const
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number]
export const TOOL_RISKS = ['low', 'medium', 'high'] as const
export type ToolRisk = (typeof TOOL_RISKS)[number]
export const APPROVAL_STATUSES = ['pending', 'allowed', 'denied', 'expired', 'cancelled'] as const
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number]
export const APPROVAL_KINDS = ['tool', 'breakpoint'] as const
export type ApprovalKind = (typeof APPROVAL_KINDS)[number]

/** What a rule matches; every field is optional (absent: matches anything). Globs use `*` and `?`. */
export interface ApprovalRuleMatch {
  tool?: string
  agent?: string
  sessionKey?: string
  /** Argument name → glob over its value (strings as they are, other values as JSON). */
  args?: Record<string, string>
  /** Matches tools at least this risky. */
  risk?: ToolRisk
}

/**
 * The tool policy: ordered rules, first match wins (`position` ascending; the API's index is the rank).
 * @writer packages/core — core/src/approvals/approvals.repo.ts
 */
export const approvalRules = pgTable(
  'approval_rules',
  {
    id: text('id').primaryKey(),
    position: integer('position').notNull(),
    match: jsonb('match').$type<ApprovalRuleMatch>().notNull(),
    action: text('action', { enum: APPROVAL_ACTIONS }).notNull(),
    /** Shown to the model when the rule denies. */
    reason: text('reason'),
    /** api | config | remember (added by a decision with remember: true). */
    source: text('source').notNull(),
    createdBy: text('created_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [check('approval_rules_action_ck', sql`${t.action} in ('allow', 'deny', 'ask')`), index('approval_rules_position_idx').on(t.position)],
)
export type ApprovalRuleRow = typeof approvalRules.$inferSelect

/**
 * One gate a paused run waits at: a tool call bound to its run, step, call id, tool name and argument hash (kind
 * `tool`), or a debug breakpoint (kind `breakpoint`). pending → allowed | denied | expired | cancelled, once.
 * @writer packages/core — core/src/approvals/approvals.repo.ts
 */
export const approvals = pgTable(
  'approvals',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: APPROVAL_KINDS }).notNull().default('tool'),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    /** The run's owner (object-level isolation). */
    principalId: text('principal_id').notNull(),
    agentId: text('agent_id').notNull(),
    step: integer('step').notNull(),
    toolCallId: text('tool_call_id').notNull(),
    toolName: text('tool_name').notNull(),
    argsHash: text('args_hash').notNull(),
    arguments: text('arguments').notNull(),
    status: text('status', { enum: APPROVAL_STATUSES }).notNull(),
    reason: text('reason'),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    check('approvals_status_ck', sql`${t.status} in ('pending', 'allowed', 'denied', 'expired', 'cancelled')`),
    check('approvals_kind_ck', sql`${t.kind} in ('tool', 'breakpoint')`),
    uniqueIndex('approvals_run_step_call_uq').on(t.runId, t.step, t.toolCallId, t.kind),
    index('approvals_pending_expires_idx').on(t.expiresAt).where(sql`${t.status} = 'pending'`),
    index('approvals_principal_created_idx').on(t.principalId, t.createdAt),
  ],
)
export type ApprovalRow = typeof approvals.$inferSelect

/** A tool call of a paused step as the checkpoint keeps it, with the policy's verdict. */
export interface CheckpointCall {
  id: string
  name: string
  arguments: string
  verdict: ApprovalAction
  reason?: string
  approvalId?: string
}

/**
 * Where a paused run resumes: the conversation up to the gated step (its assistant turn included), the step, the
 * gated calls and the usage so far. One row per run, replaced at each pause.
 * @writer packages/core — core/src/approvals/approvals.repo.ts
 */
export const runCheckpoints = pgTable('run_checkpoints', {
  runId: text('run_id')
    .primaryKey()
    .references(() => runs.id, { onDelete: 'cascade' }),
  attempt: integer('attempt').notNull(),
  step: integer('step').notNull(),
  messages: jsonb('messages').$type<unknown[]>().notNull(),
  calls: jsonb('calls').$type<CheckpointCall[]>().notNull(),
  usage: jsonb('usage').$type<{ inputTokens: number; outputTokens: number }>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
})
