import { sql } from 'drizzle-orm'
import { bigserial, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

export const USAGE_ROUTES = ['chat.completions', 'embeddings', 'responses', 'messages'] as const
export type UsageRoute = (typeof USAGE_ROUTES)[number]

/**
 * One pass-through model call (a compat request whose `model` is `provider/model` or an alias, not an agent):
 * who made it, which provider model it reached and the tokens it used. Written in batches, off the request path.
 * @writer packages/core — providers/usage.repo.ts inserts the batches the gateway's usage recorder collects
 */
export const modelUsage = pgTable(
  'model_usage',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    principalId: text('principal_id').notNull(),
    tokenId: text('token_id'),
    route: text('route', { enum: USAGE_ROUTES }).notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    /** The HTTP status the client got (200, or the error's). */
    status: integer('status').notNull(),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    durationMs: integer('duration_ms').notNull(),
    requestId: text('request_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [index('model_usage_principal_created_idx').on(t.principalId, t.createdAt)],
)
export type ModelUsageRow = typeof modelUsage.$inferSelect
export type NewModelUsageRow = typeof modelUsage.$inferInsert
