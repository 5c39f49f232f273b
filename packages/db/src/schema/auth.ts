import { sql } from 'drizzle-orm'
import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * Bearer tokens. Only the SHA-256 of a token is stored; `last4` is for display.
 * @writer packages/access — the tokens service (tokens.repo.ts) creates, upserts and revokes tokens
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull().unique('api_tokens_token_hash_uq'),
    last4: text('last4').notNull(),
    scopes: jsonb('scopes').$type<string[]>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('api_tokens_principal_id_idx').on(t.principalId)],
)
export type ApiTokenRow = typeof apiTokens.$inferSelect
