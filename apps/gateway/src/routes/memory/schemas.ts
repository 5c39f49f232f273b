import { MEMORY_KINDS } from '@openvesper/db'
import type { MemoryEntry, MemorySearchResult } from '@openvesper/memory'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern, PageQuery } from '../../http/params.js'

const DateTime = (description: string) => Type.String({ format: 'date-time', description })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T, description: string) => Type.Union([t, Type.Null()], { description })
const Kind = Type.Union([Type.Literal('fact'), Type.Literal('preference'), Type.Literal('event'), Type.Literal('note')], {
  description: 'What the entry is: fact, preference, event or note.',
})
const Tag = Type.String({ minLength: 1, maxLength: 64, description: 'A tag.' })
const SessionKeyLabel = Type.String({ minLength: 1, maxLength: 512, description: 'The session the entry belongs to (a label; the session need not exist).' })
const MetadataValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])

export const AgentParams = Type.Object(
  { agent: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'Agent id: memory belongs to the caller and this agent.' }) },
  { additionalProperties: false },
)
export const EntryParams = Type.Object(
  { agent: AgentParams.properties.agent, id: idPattern('memory', { description: 'Memory entry id (`mem_…`).' }) },
  { additionalProperties: false },
)

export const MemoryEntrySchema = Type.Object(
  {
    id: Type.String({ description: 'Entry id (`mem_…`).' }),
    agentId: Type.String(),
    kind: Kind,
    text: Type.String({ description: 'Stored verbatim.' }),
    tags: Type.Array(Type.String()),
    sessionKey: Nullable(Type.String(), 'The session label it was written with.'),
    metadata: Type.Record(Type.String(), Type.Unknown(), { description: 'The caller’s metadata object.' }),
    source: Type.Union([Type.Literal('api'), Type.Literal('tool')], { description: 'api: written through this API; tool: saved by a model (memory_save).' }),
    untrusted: Type.Boolean({ description: 'Written from tool output: models see it marked as data, not instructions.' }),
    writes: Type.Integer({ description: 'Writes merged into this entry (near-duplicates merge), 1 if never merged.' }),
    embedding: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('ready')], {
      description: 'none: not embedded (no provider or no pgvector); pending: found by full-text until its vector lands; ready: vector-searchable.',
    }),
    expiresAt: Nullable(DateTime('When it expires.'), 'When it expires: never returned after, then purged.'),
    createdAt: DateTime('When it was first written.'),
    updatedAt: DateTime('When it was last written or merged into.'),
  },
  { $id: 'MemoryEntry', additionalProperties: false },
)
export type MemoryEntryApi = Static<typeof MemoryEntrySchema>

export const MemoryListSchema = Type.Object(
  { items: Type.Array(ref(MemoryEntrySchema)), nextCursor: Nullable(Type.String(), 'Null on the last page.') },
  { $id: 'MemoryList', additionalProperties: false },
)

export const MemoryWriteResultSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        { entry: ref(MemoryEntrySchema), merged: Type.Boolean({ description: 'True when it merged into an existing entry with the same normalised text.' }) },
        { additionalProperties: false },
      ),
      { description: 'One per entry sent, in order.' },
    ),
  },
  { $id: 'MemoryWriteResult', additionalProperties: false },
)

export const MemorySearchResultSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('hybrid'), Type.Literal('fts'), Type.Literal('vector')], {
      description: 'hybrid: full-text and vector answered, fused by reciprocal rank; fts or vector: only that path answered.',
    }),
    paths: Type.Array(Type.Union([Type.Literal('fts'), Type.Literal('vector')]), { description: 'The search paths that answered.' }),
    items: Type.Array(
      Type.Object(
        {
          entry: ref(MemoryEntrySchema),
          score: Type.Number({ description: 'hybrid: RRF score; fts: ts_rank_cd; vector: cosine similarity.' }),
          ftsRank: Nullable(Type.Number(), 'ts_rank_cd when the full-text path found it.'),
          similarity: Nullable(Type.Number(), 'Cosine similarity when the vector path found it.'),
        },
        { additionalProperties: false },
      ),
    ),
    notes: Type.Array(Type.String(), { description: 'Why a requested path did not answer.' }),
  },
  { $id: 'MemorySearchResult', additionalProperties: false },
)

export const MemoryStatsSchema = Type.Object(
  {
    total: Type.Integer({ description: 'Live (unexpired) entries.' }),
    byKind: Type.Object(
      { fact: Type.Integer(), preference: Type.Integer(), event: Type.Integer(), note: Type.Integer() },
      { additionalProperties: false, description: `Live entries per kind (${MEMORY_KINDS.join(', ')}).` },
    ),
    embeddings: Type.Object({ ready: Type.Integer(), pending: Type.Integer(), none: Type.Integer() }, { additionalProperties: false }),
    index: Type.Object(
      {
        fullText: Type.Literal('gin'),
        vector: Nullable(Type.Literal('hnsw'), 'The vector index, null when vector search is unavailable.'),
        dimension: Nullable(Type.Integer(), 'Embedding dimension.'),
        model: Nullable(Type.String(), 'Embedding model.'),
        textSearchConfig: Type.String(),
      },
      { additionalProperties: false },
    ),
    paths: Type.Array(Type.Union([Type.Literal('fts'), Type.Literal('vector')]), { description: 'The search paths available.' }),
    unavailable: Type.Record(Type.String(), Type.String(), { description: 'Path → why it is unavailable.' }),
  },
  { $id: 'MemoryStats', additionalProperties: false },
)

export const MemoryClearResultSchema = Type.Object(
  { deleted: Type.Integer({ description: 'Entries removed.' }) },
  { $id: 'MemoryClearResult', additionalProperties: false },
)

const NewEntry = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 16_000, description: 'Stored verbatim (any Unicode).' }),
    kind: Kind,
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    sessionKey: Type.Optional(SessionKeyLabel),
    // Keys are free (any key matches the pattern); additionalProperties: false only closes the object to non-matching keys.
    metadata: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), { description: 'Any JSON object.', additionalProperties: false })),
    expiresAt: Type.Optional(DateTime('When it expires (must be in the future).')),
  },
  { additionalProperties: false },
)

export const AddBody = Type.Object({ entries: Type.Array(NewEntry, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false })

const filterProps = {
  kind: Type.Optional(Type.Array(Kind, { minItems: 1, maxItems: 4, description: 'Only these kinds.' })),
  tags: Type.Optional(Type.Array(Tag, { minItems: 1, maxItems: 16, description: 'Only entries holding every one of these tags.' })),
  sessionKey: Type.Optional(SessionKeyLabel),
  since: Type.Optional(DateTime('Only entries created at or after this time.')),
  before: Type.Optional(DateTime('Only entries created before this time.')),
}

export const SearchBody = Type.Object(
  {
    query: Type.String({ minLength: 1, maxLength: 2000, description: 'Words to find (web-search syntax: "quoted phrases", -excluded, or).' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Hits (default 10).' })),
    mode: Type.Optional(
      Type.Union([Type.Literal('hybrid'), Type.Literal('fts'), Type.Literal('vector')], {
        description: 'Default hybrid when vector search is available, else fts; an unavailable path is reported in notes.',
      }),
    ),
    match: Type.Optional(
      Type.Union([Type.Literal('all'), Type.Literal('any')], {
        description: 'Full-text: all (default) needs every term; any ranks entries holding any of them (what agents use).',
      }),
    ),
    ...filterProps,
    metadata: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), MetadataValue, {
        description: 'Only entries whose metadata has these values.',
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
)

export const ListQuery = Type.Object(
  {
    kind: Type.Optional(Kind),
    tag: Type.Optional(Tag),
    sessionKey: Type.Optional(SessionKeyLabel),
    since: filterProps.since,
    before: filterProps.before,
    ...PageQuery,
  },
  { additionalProperties: false },
)

export const ClearBody = Type.Object(
  { confirm: Type.Literal(true, { description: 'Must be true: clearing cannot be undone.' }) },
  { additionalProperties: false, description: 'Explicit confirmation.' },
)

export const memoryComponents = [
  MemoryEntrySchema,
  MemoryListSchema,
  MemoryWriteResultSchema,
  MemorySearchResultSchema,
  MemoryStatsSchema,
  MemoryClearResultSchema,
]

const iso = (d: Date | null) => (d ? d.toISOString() : null)
export const toMemoryEntry = (e: MemoryEntry): MemoryEntryApi => ({
  id: e.id,
  agentId: e.agentId,
  kind: e.kind,
  text: e.text,
  tags: e.tags,
  sessionKey: e.sessionKey,
  metadata: e.metadata,
  source: e.source,
  untrusted: e.untrusted,
  writes: e.writes,
  embedding: e.embeddingState,
  expiresAt: iso(e.expiresAt),
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
})

export const toSearchResult = (r: MemorySearchResult) => ({
  mode: r.mode,
  paths: r.paths,
  items: r.items.map((h) => ({ entry: toMemoryEntry(h.entry), score: h.score, ftsRank: h.ftsRank, similarity: h.similarity })),
  notes: r.notes,
})
