import { sql } from 'drizzle-orm'
import { bigserial, index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number]

/**
 * The audit trail: one append-only row per security-relevant action (who, what, on what, how it ended). A trigger
 * (the audit_extra migration) refuses UPDATE and DELETE to every role.
 * @writer packages/audit — audit.repo.ts appends rows in batches
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().default(sql`now()`),
    principalId: text('principal_id'),
    action: text('action').notNull(),
    target: text('target'),
    outcome: text('outcome', { enum: AUDIT_OUTCOMES }).notNull(),
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('audit_log_at_idx').on(t.at), index('audit_log_action_at_idx').on(t.action, t.at), index('audit_log_principal_at_idx').on(t.principalId, t.at)],
)
export type AuditRow = typeof auditLog.$inferSelect
