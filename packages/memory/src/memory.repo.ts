import { type Db, type EmbeddingState, type MemoryKind, type MemorySource, rawSql } from '@openvesper/db'

/**
 * The memory table's queries; the only writer of `memory_entries`. Every read and write is scoped by principal and
 * agent ids (a set of agents for reads, when an agent shares another's memory): an entry of another principal or agent
 * does not exist for the caller. Expired entries are never returned. Statements are hand-written and positional
 * (`rawSql`: prepared once per connection).
 */

export interface MemoryEntry {
  id: string
  principalId: string
  agentId: string
  kind: MemoryKind
  text: string
  tags: string[]
  sessionKey: string | null
  metadata: Record<string, unknown>
  source: MemorySource
  untrusted: boolean
  writes: number
  embeddingState: EmbeddingState
  embeddingModel: string | null
  expiresAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export interface NewMemoryEntry {
  id: string
  kind: MemoryKind
  text: string
  tags: string[]
  sessionKey: string | null
  metadata: Record<string, unknown>
  source: MemorySource
  untrusted: boolean
  /** Null: no dedupe for this entry. */
  dedupeHash: string | null
  expiresAt: Date | null
  embeddingState: EmbeddingState
}

/** Filters every list and search applies inside its statement (never after a top-k cut). */
export interface MemoryFilters {
  kind?: MemoryKind[]
  /** Entries holding every one of these tags. */
  tags?: string[]
  sessionKey?: string
  /** created_at at or after. */
  since?: Date
  /** created_at strictly before. */
  before?: Date
  /** Entries whose metadata contains these key/value pairs (JSON containment). */
  metadata?: Record<string, unknown>
}

const COLUMNS = `id, principal_id, agent_id, kind, text, tags, session_key, metadata, source, untrusted, writes, embedding_state,
  embedding_model, expires_at, created_at, updated_at`

type Raw = Record<string, unknown>
const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)))
export function toEntry(r: Raw): MemoryEntry {
  return {
    id: r.id as string,
    principalId: r.principal_id as string,
    agentId: r.agent_id as string,
    kind: r.kind as MemoryKind,
    text: r.text as string,
    tags: (r.tags as string[]) ?? [],
    sessionKey: (r.session_key as string | null) ?? null,
    metadata: (typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata) as Record<string, unknown>,
    source: r.source as MemorySource,
    untrusted: Boolean(r.untrusted),
    writes: Number(r.writes),
    embeddingState: r.embedding_state as EmbeddingState,
    embeddingModel: (r.embedding_model as string | null) ?? null,
    expiresAt: r.expires_at == null ? null : date(r.expires_at),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  }
}

/**
 * The filter clause for the scope and filters, with its parameters numbered from `first`. Parameters are always the
 * same list in the same order (unused ones null), so each statement text is one prepared statement.
 */
function scopeClause(principalId: string, agentIds: readonly string[], f: MemoryFilters, first: number, alias = '') {
  const c = (name: string) => `${alias}${name}`
  const p = (i: number) => `$${first + i}`
  const text = [
    `${c('principal_id')} = ${p(0)}`,
    `${c('agent_id')} = any(${p(1)}::text[])`,
    `(${c('expires_at')} is null or ${c('expires_at')} > now())`,
    `(${p(2)}::text[] is null or ${c('kind')} = any(${p(2)}::text[]))`,
    `(${p(3)}::text[] is null or ${c('tags')} @> ${p(3)}::text[])`,
    `(${p(4)}::text is null or ${c('session_key')} = ${p(4)}::text)`,
    `(${p(5)}::timestamptz is null or ${c('created_at')} >= ${p(5)}::timestamptz)`,
    `(${p(6)}::timestamptz is null or ${c('created_at')} < ${p(6)}::timestamptz)`,
    `(${p(7)}::jsonb is null or ${c('metadata')} @> ${p(7)}::jsonb)`,
  ].join(' and ')
  const params = [
    principalId,
    [...agentIds],
    f.kind?.length ? f.kind : null,
    f.tags?.length ? f.tags : null,
    f.sessionKey ?? null,
    f.since?.toISOString() ?? null,
    f.before?.toISOString() ?? null,
    f.metadata && Object.keys(f.metadata).length ? JSON.stringify(f.metadata) : null,
  ]
  return { text, params }
}
const SCOPE_PARAMS = 8

/** The vector dimension as it appears in statement text (a type modifier cannot be a parameter): an integer, checked. */
function vectorDim(dimension: number): number {
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 16_000) throw new Error(`invalid vector dimension ${dimension}`)
  return dimension
}

export interface FtsHit {
  entry: MemoryEntry
  rank: number
}
export interface VectorHit {
  entry: MemoryEntry
  similarity: number
}

export function createMemoryRepo(db: Db) {
  const raw = rawSql(db)

  return {
    /**
     * Inserts the entries; one whose dedupe hash the principal's agent already holds merges into that entry instead
     * (tags united, metadata merged, the later expiry kept, `writes` + 1). Returns each resulting row with `merged`.
     */
    async insert(
      principalId: string,
      agentId: string,
      tsConfig: string,
      entries: readonly NewMemoryEntry[],
    ): Promise<(MemoryEntry & { merged: boolean; dedupeHash: string | null })[]> {
      if (entries.length === 0) return []
      const rows = await raw.query(
        `insert into memory_entries as m (id, principal_id, agent_id, kind, text, tags, session_key, metadata, source, untrusted, dedupe_hash,
           expires_at, embedding_state, ts_config, created_at, updated_at)
         select e.id, $1, $2, e.kind, e.text, coalesce(e.tags, '{}'), e.session_key, coalesce(e.metadata, '{}'), e.source, e.untrusted,
           e.dedupe_hash, e.expires_at, e.embedding_state, $3::regconfig,
           -- later entries of one request are newer, so listings keep the request's order
           now() + (e.ord - 1) * interval '1 microsecond', now() + (e.ord - 1) * interval '1 microsecond'
         from jsonb_to_recordset($4::jsonb) as e(id text, kind text, text text, tags text[], session_key text, metadata jsonb,
           source text, untrusted boolean, dedupe_hash text, expires_at timestamptz, embedding_state text, ord bigint)
         on conflict (principal_id, agent_id, dedupe_hash) do update set
           tags = array(select distinct t from unnest(m.tags || excluded.tags) t order by t),
           metadata = m.metadata || excluded.metadata,
           untrusted = m.untrusted or excluded.untrusted,
           expires_at = case when m.expires_at is null or excluded.expires_at is null then null else greatest(m.expires_at, excluded.expires_at) end,
           writes = m.writes + 1,
           updated_at = now()
         returning ${COLUMNS}, dedupe_hash, (xmax <> 0) as merged`,
        [
          principalId,
          agentId,
          tsConfig,
          JSON.stringify(
            entries.map((e, i) => ({
              ...e,
              ord: i + 1,
              session_key: e.sessionKey,
              dedupe_hash: e.dedupeHash,
              expires_at: e.expiresAt,
              embedding_state: e.embeddingState,
            })),
          ),
        ],
      )
      return rows.map((r) => ({ ...toEntry(r), dedupeHash: (r.dedupe_hash as string | null) ?? null, merged: Boolean(r.merged) }))
    },

    /** Newest first; `after` continues after a (created_at microseconds, id) position. */
    async list(principalId: string, agentId: string, f: MemoryFilters, after: { createdUs: string; id: string } | undefined, limit: number) {
      const scope = scopeClause(principalId, [agentId], f, 1)
      const n = SCOPE_PARAMS
      const rows = await raw.query(
        `select ${COLUMNS}, (extract(epoch from created_at) * 1000000)::bigint::text as created_us from memory_entries
         where ${scope.text}
           and ($${n + 1}::text is null or (created_at, id) < (timestamptz 'epoch' + $${n + 1}::bigint * interval '1 microsecond', $${n + 2}::text))
         order by created_at desc, id desc limit $${n + 3}`,
        [...scope.params, after?.createdUs ?? null, after?.id ?? null, limit],
      )
      return rows.map((r) => ({ ...toEntry(r), createdUs: r.created_us as string }))
    },

    async byIds(principalId: string, agentIds: readonly string[], ids: readonly string[]): Promise<MemoryEntry[]> {
      if (ids.length === 0) return []
      const rows = await raw.query(
        `select ${COLUMNS} from memory_entries where principal_id = $1 and agent_id = any($2::text[]) and id = any($3::text[])
           and (expires_at is null or expires_at > now())`,
        [principalId, [...agentIds], [...ids]],
      )
      return rows.map(toEntry)
    },

    /**
     * Full-text hits ranked by `ts_rank_cd`, best first, and whether the query has any lexeme at all (a query of stop
     * words or punctuation has none: an empty answer, not an error).
     */
    async fts(
      principalId: string,
      agentIds: readonly string[],
      tsConfig: string,
      query: string,
      f: MemoryFilters,
      limit: number,
      match: 'all' | 'any' = 'all',
    ) {
      const scope = scopeClause(principalId, agentIds, f, 3)
      // match any: the query's terms joined by OR (tsquery's text form quotes each lexeme, so only operators change).
      const rows = await raw.query(
        `with w as (select websearch_to_tsquery($1::regconfig, $2::text) as tsq),
         q as (select case when $${4 + SCOPE_PARAMS}::boolean then replace(w.tsq::text, ' & ', ' | ')::tsquery else w.tsq end as tsq from w)
         select numnode(q.tsq) as lexemes, h.* from q left join lateral (
           select ${COLUMNS}, ts_rank_cd(search, q.tsq) as rank from memory_entries
           where search @@ q.tsq and ${scope.text}
           order by rank desc, created_at desc, id limit $${3 + SCOPE_PARAMS}
         ) h on true`,
        [tsConfig, query, ...scope.params, limit, match === 'any'],
      )
      const lexemes = Number(rows[0]?.lexemes ?? 0)
      const hits: FtsHit[] = rows.filter((r) => r.id != null).map((r) => ({ entry: toEntry(r), rank: Number(r.rank) }))
      return { lexemes, hits }
    },

    /**
     * Nearest entries by cosine distance through the HNSW index of `dimension`. The filters apply inside the scan:
     * the sessions' `hnsw.iterative_scan` (set by createDb) keeps scanning until enough rows pass them.
     */
    async vector(principalId: string, agentIds: readonly string[], dimension: number, embedding: readonly number[], f: MemoryFilters, limit: number) {
      const dim = vectorDim(dimension)
      const scope = scopeClause(principalId, agentIds, f, 2)
      const rows = await raw.query(
        `select ${COLUMNS}, 1 - (embedding::vector(${dim}) <=> $1::vector(${dim})) as similarity from memory_entries
         where embedding_dim = ${dim} and ${scope.text}
         order by embedding::vector(${dim}) <=> $1::vector(${dim}) limit $${2 + SCOPE_PARAMS}`,
        [`[${embedding.join(',')}]`, ...scope.params, limit],
      )
      // relaxed_order: approximately sorted; exact order here.
      return rows.map((r): VectorHit => ({ entry: toEntry(r), similarity: Number(r.similarity) })).sort((x, y) => y.similarity - x.similarity)
    },

    /** Entries waiting for an embedding (oldest first), with their text. */
    async pending(limit: number): Promise<{ id: string; text: string }[]> {
      return raw.query<{ id: string; text: string }>(
        `select id, text from memory_entries where embedding_state = 'pending' and (expires_at is null or expires_at > now())
         order by created_at, id limit $1`,
        [limit],
      )
    },

    /** Stores embeddings of entries still pending; returns how many were stored. */
    async storeEmbeddings(model: string, dimension: number, items: readonly { id: string; embedding: readonly number[] }[]): Promise<number> {
      if (items.length === 0) return 0
      const rows = await raw.query(
        `update memory_entries m set embedding = v.e::vector, embedding_dim = $2, embedding_model = $1, embedding_state = 'ready'
         from jsonb_to_recordset($3::jsonb) as v(id text, e text)
         where m.id = v.id and m.embedding_state = 'pending' returning m.id`,
        [model, dimension, JSON.stringify(items.map((i) => ({ id: i.id, e: `[${i.embedding.join(',')}]` })))],
      )
      return rows.length
    },

    /** Marks every entry not embedded with `model` at `dimension` as pending (re-embedding after a model change). */
    async markForReembed(model: string, dimension: number): Promise<number> {
      const rows = await raw.query(
        `update memory_entries set embedding_state = 'pending' where embedding_state <> 'pending'
           and (embedding_model is distinct from $1 or embedding_dim is distinct from $2) returning id`,
        [model, dimension],
      )
      return rows.length
    },

    async delete(principalId: string, agentId: string, id: string): Promise<boolean> {
      const rows = await raw.query('delete from memory_entries where principal_id = $1 and agent_id = $2 and id = $3 returning id', [principalId, agentId, id])
      return rows.length > 0
    },

    async clear(principalId: string, agentId: string): Promise<number> {
      const rows = await raw.query<{ n: number }>(
        'with d as (delete from memory_entries where principal_id = $1 and agent_id = $2 returning 1) select count(*)::int as n from d',
        [principalId, agentId],
      )
      return Number(rows[0]?.n ?? 0)
    },

    /** Deletes expired entries, at most `limit` per call; returns how many. */
    async purgeExpired(limit: number): Promise<number> {
      const rows = await raw.query<{ n: number }>(
        `with d as (delete from memory_entries where id in (
           select id from memory_entries where expires_at is not null and expires_at <= now() order by expires_at limit $1 for update skip locked
         ) returning 1) select count(*)::int as n from d`,
        [limit],
      )
      return Number(rows[0]?.n ?? 0)
    },

    async stats(principalId: string, agentId: string) {
      const rows = await raw.query<{ kind: string; state: string; n: number }>(
        `select kind, embedding_state as state, count(*)::int as n from memory_entries
         where principal_id = $1 and agent_id = $2 and (expires_at is null or expires_at > now()) group by kind, embedding_state`,
        [principalId, agentId],
      )
      return rows.map((r) => ({ kind: r.kind as MemoryKind, state: r.state as EmbeddingState, count: Number(r.n) }))
    },

    /** Whether pgvector is installed in this database and the vector column exists. */
    async vectorInstalled(): Promise<boolean> {
      const rows = await raw.query<{ ok: boolean }>(
        `select exists(select 1 from pg_extension where extname = 'vector')
           and exists(select 1 from information_schema.columns where table_name = 'memory_entries' and column_name = 'embedding') as ok`,
      )
      return Boolean(rows[0]?.ok)
    },

    /** Creates the HNSW (cosine) index for `dimension` if missing: a partial expression index, one per dimension. */
    async ensureVectorIndex(dimension: number): Promise<void> {
      const dim = vectorDim(dimension)
      await raw.query(
        `create index if not exists memory_entries_embedding_${dim}_hnsw_idx on memory_entries
         using hnsw ((embedding::vector(${dim})) vector_cosine_ops) where embedding_dim = ${dim}`,
      )
    },

    async checkTsConfig(tsConfig: string): Promise<void> {
      await raw.query('select $1::regconfig', [tsConfig])
    },
  }
}
