import { sql } from 'drizzle-orm'
import { boolean, check, customType, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

export const MEMORY_KINDS = ['fact', 'preference', 'event', 'note'] as const
export type MemoryKind = (typeof MEMORY_KINDS)[number]

/** `none`: no embedding provider when written; `pending`: waiting for the embed job; `ready`: vector-searchable. */
export const EMBEDDING_STATES = ['none', 'pending', 'ready'] as const
export type EmbeddingState = (typeof EMBEDDING_STATES)[number]

export const MEMORY_SOURCES = ['api', 'tool'] as const
export type MemorySource = (typeof MEMORY_SOURCES)[number]

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' })
const regconfig = customType<{ data: string }>({ dataType: () => 'regconfig' })

/**
 * Per-agent memory: entries owned by one principal and one agent (every read and write names both). `search` is
 * generated from the text with the row's text-search configuration (`ts_config`, chosen by the gateway's
 * configuration when the entry was written), indexed with GIN. `dedupe_hash` is the hash of the normalised text when
 * near-duplicate merging is on (null when off): unique per principal and agent, so a duplicate merges into the
 * existing row. The vector column `embedding` (pgvector) is not declared here: the custom migration adds it only when
 * the database offers the extension, and `packages/memory` reaches it with raw SQL.
 * @writer packages/memory — memory.repo.ts inserts, merges, embeds, deletes and purges entries
 */
export const memoryEntries = pgTable(
  'memory_entries',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    agentId: text('agent_id').notNull(),
    kind: text('kind', { enum: MEMORY_KINDS }).notNull(),
    text: text('text').notNull(),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    sessionKey: text('session_key'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    source: text('source', { enum: MEMORY_SOURCES }).notNull().default('api'),
    /** Written from tool output (a model's `memory_save`): shown to models as untrusted. */
    untrusted: boolean('untrusted').notNull().default(false),
    dedupeHash: text('dedupe_hash'),
    /** How many writes merged into this entry (1 = never merged). */
    writes: integer('writes').notNull().default(1),
    tsConfig: regconfig('ts_config').notNull().default(sql`'english'::regconfig`),
    search: tsvector('search').notNull().generatedAlwaysAs(sql`to_tsvector(ts_config, text)`),
    embeddingState: text('embedding_state', { enum: EMBEDDING_STATES }).notNull().default('none'),
    embeddingModel: text('embedding_model'),
    embeddingDim: integer('embedding_dim'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    index('memory_entries_principal_id_agent_id_created_at_idx').on(t.principalId, t.agentId, t.createdAt, t.id),
    index('memory_entries_search_idx').using('gin', t.search),
    index('memory_entries_tags_idx').using('gin', t.tags),
    uniqueIndex('memory_entries_dedupe_uq').on(t.principalId, t.agentId, t.dedupeHash),
    index('memory_entries_expires_at_idx').on(t.expiresAt).where(sql`expires_at is not null`),
    index('memory_entries_embedding_state_idx').on(t.embeddingState).where(sql`embedding_state = 'pending'`),
    check('memory_entries_kind_ck', sql`kind in ('fact', 'preference', 'event', 'note')`),
    check('memory_entries_embedding_state_ck', sql`embedding_state in ('none', 'pending', 'ready')`),
    check('memory_entries_source_ck', sql`source in ('api', 'tool')`),
  ],
)
export type MemoryEntryRow = typeof memoryEntries.$inferSelect
export type NewMemoryEntryRow = typeof memoryEntries.$inferInsert
