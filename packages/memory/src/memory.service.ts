import type { Db, MemoryKind, MemorySource } from '@openvesper/db'
import type { JobProducer } from '@openvesper/queue'
import { type Clock, invalidRequest, type Logger, newId, notFound } from '@openvesper/shared'
import type { EmbeddingsClient } from './embeddings.js'
import type { MemoryJobs } from './jobs.js'
import { createMemoryRepo, type MemoryEntry, type MemoryFilters } from './memory.repo.js'
import { dedupeHash } from './normalize.js'
import { reciprocalRankFusion } from './search/fusion.js'

export interface MemoryPrincipal {
  id: string
}

/** What an agent's settings say about memory (from the agents file, injected: memory does not import core). */
export interface AgentMemorySettings {
  /** Top-k memories injected into each run's context; 0 = none. */
  inject: number
  /** Agents whose memory this agent also reads (same principal). */
  sharedWith: string[]
}

export interface MemoryOptions {
  /** Text-search configuration for new entries and queries (`english`, `simple`, …). */
  tsConfig: string
  /** Merge an entry into an existing one with the same normalised text (same principal and agent). */
  dedupe: boolean
  /** Embedding provider; unset: full-text search only. */
  embeddings?: EmbeddingsClient
  /** Pending entries embedded per job iteration. */
  embedBatch: number
  /** How often expired entries are purged (and pending embeddings swept). */
  purgeIntervalMs: number
}

export interface MemoryDeps {
  db: Db
  jobs: JobProducer<MemoryJobs>
  clock: Clock
  log: Logger
  agents: { has(agentId: string): boolean; memory(agentId: string): AgentMemorySettings }
  options: MemoryOptions
}

export interface NewMemoryInput {
  text: string
  kind: MemoryKind
  tags?: string[]
  sessionKey?: string
  metadata?: Record<string, unknown>
  expiresAt?: Date
}

export interface ListMemoryInput extends MemoryFilters {
  cursor?: string
  limit?: number
}

export type SearchPath = 'fts' | 'vector'
export type SearchMode = 'fts' | 'vector' | 'hybrid'

export interface SearchMemoryInput extends MemoryFilters {
  query: string
  limit?: number
  /** What the caller wants; the answer says which paths ran. Default: hybrid when vector search is available. */
  mode?: SearchMode
  /** Full-text: `all` (default) needs every term (web-search syntax); `any` ranks entries holding any of them. */
  match?: 'all' | 'any'
}

export interface MemoryHit {
  entry: MemoryEntry
  /** Hybrid: the RRF score; fts: ts_rank_cd; vector: cosine similarity. */
  score: number
  ftsRank: number | null
  similarity: number | null
}

export interface MemorySearchResult {
  /** `hybrid` when both paths answered, else the one that did. */
  mode: SearchMode
  paths: SearchPath[]
  items: MemoryHit[]
  /** Why a requested path did not answer (no extension, no provider, provider failure). */
  notes: string[]
}

export interface MemoryStats {
  total: number
  byKind: Record<MemoryKind, number>
  embeddings: { ready: number; pending: number; none: number }
  index: { fullText: 'gin'; vector: 'hnsw' | null; dimension: number | null; model: string | null; textSearchConfig: string }
  paths: SearchPath[]
  unavailable: Record<string, string>
}

export const MEMORY_PAGE_MAX = 200
export const MEMORY_PAGE_DEFAULT = 50
export const MEMORY_SEARCH_MAX = 50
export const MEMORY_SEARCH_DEFAULT = 10

const encodeCursor = (position: string) => Buffer.from(position, 'utf8').toString('base64url')
const CURSOR = /^e1:(\d{1,17}):(mem_[0-9a-z]{8,64})$/
function decodeCursor(cursor: string): { createdUs: string; id: string } {
  const m = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!m) throw invalidRequest('cursor is not one this endpoint returned', [{ path: 'querystring.cursor', message: 'unknown cursor' }])
  return { createdUs: m[1]!, id: m[2]! }
}
/** True when a string, key or nested value holds U+0000. */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (Array.isArray(value)) return value.some(hasNul)
  if (value && typeof value === 'object') return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v))
  return false
}
const clamp = (v: number | undefined, def: number, max: number) => Math.min(Math.max(v ?? def, 1), max)

/**
 * Per-agent memory: entries owned by a principal and an agent, listed, added (deduplicated), searched (full-text with
 * `ts_rank_cd`, pgvector cosine through HNSW, fused by reciprocal rank), deleted and purged. Principal-aware, no HTTP.
 * Embeddings are computed by the `memory.embed` job, outside any request, in batches: a pending entry is found by
 * full-text search until its vector lands.
 */
export function createMemoryService(deps: MemoryDeps) {
  const repo = createMemoryRepo(deps.db)
  const { options, log } = deps
  const embeddings = options.embeddings
  let vectorInstalled = false
  const unavailable: Record<string, string> = {}
  const queryCache = new Map<string, number[]>()

  const vectorReady = () => vectorInstalled && embeddings !== undefined
  const available = (): SearchPath[] => (vectorReady() ? ['fts', 'vector'] : ['fts'])

  function agentOrThrow(agentId: string): void {
    if (!deps.agents.has(agentId)) throw notFound('agent', agentId)
  }
  /** The agents whose memory `agentId` reads: its own, then those its settings share. */
  function readScope(agentId: string): string[] {
    return [agentId, ...deps.agents.memory(agentId).sharedWith.filter((a) => a !== agentId)]
  }

  async function embedQuery(text: string): Promise<number[]> {
    const hit = queryCache.get(text)
    if (hit) return hit
    const [v] = await embeddings!.embed([text])
    queryCache.set(text, v!)
    if (queryCache.size > 512) queryCache.delete(queryCache.keys().next().value!)
    return v!
  }

  async function add(principal: MemoryPrincipal, agentId: string, inputs: readonly NewMemoryInput[], source: MemorySource) {
    agentOrThrow(agentId)
    const now = deps.clock.now()
    inputs.forEach((e, i) => {
      // Postgres text and jsonb cannot hold U+0000: a clear 400 instead of a failed statement.
      const nul = hasNul([e.text, e.tags, e.sessionKey, e.metadata])
      if (nul)
        throw invalidRequest('memory text, tags, session and metadata cannot contain U+0000 (NUL)', [{ path: `body.entries[${i}]`, message: 'contains NUL' }])
      if (e.expiresAt && e.expiresAt.getTime() <= now.getTime())
        throw invalidRequest('expiresAt must be in the future', [{ path: `body.entries[${i}].expiresAt`, message: 'in the past' }])
    })
    // Duplicates within one request merge before the statement (one row may be written once per statement).
    const seen = new Map<string, number>()
    const rows = inputs.map((e) => {
      const hash = options.dedupe ? dedupeHash(e.text) : null
      return {
        id: newId('memory'),
        kind: e.kind,
        text: e.text,
        tags: [...new Set([...(e.tags ?? []), ...(source === 'tool' ? ['untrusted'] : [])])],
        sessionKey: e.sessionKey ?? null,
        metadata: e.metadata ?? {},
        source,
        untrusted: source === 'tool',
        dedupeHash: hash,
        expiresAt: e.expiresAt ?? null,
        embeddingState: vectorReady() ? ('pending' as const) : ('none' as const),
      }
    })
    const unique: typeof rows = []
    const slot: number[] = []
    for (const r of rows) {
      const at = r.dedupeHash === null ? undefined : seen.get(r.dedupeHash)
      if (at === undefined) {
        if (r.dedupeHash !== null) seen.set(r.dedupeHash, unique.length)
        slot.push(unique.length)
        unique.push(r)
      } else {
        const kept = unique[at]!
        kept.tags = [...new Set([...kept.tags, ...r.tags])]
        kept.metadata = { ...kept.metadata, ...r.metadata }
        slot.push(at)
      }
    }
    const written = await repo.insert(principal.id, agentId, options.tsConfig, unique)
    // A merged row comes back under the existing entry's id: match by id, else by the dedupe hash.
    const resultOf = (u: (typeof unique)[number]) => written.find((w) => w.id === u.id || (u.dedupeHash !== null && w.dedupeHash === u.dedupeHash))!
    const firstSlot = new Map<number, number>()
    const results = rows.map((_, i) => {
      const at = slot[i]!
      const repeat = firstSlot.has(at)
      if (!repeat) firstSlot.set(at, i)
      const w = resultOf(unique[at]!)
      return { ...w, merged: w.merged || repeat }
    })
    if (written.some((w) => w.embeddingState === 'pending')) {
      // After the insert committed; a failed enqueue leaves the entries pending for the periodic sweep.
      await deps.jobs.add('memory.embed', {}, { jobId: `memory-embed-${unique[0]!.id}` }).catch((err: Error) => {
        log.warn({ err: err.message }, 'memory: could not enqueue embeddings; the periodic sweep will embed them')
      })
    }
    return results
  }

  return {
    /** Detects pgvector and prepares the vector index; says once when search is full-text only, and why. */
    async start(): Promise<void> {
      await repo.checkTsConfig(options.tsConfig)
      vectorInstalled = await repo.vectorInstalled()
      if (!vectorInstalled) unavailable.vector = 'the pgvector extension is not installed in this database'
      else if (!embeddings) unavailable.vector = 'no embedding provider is configured (OPENVESPER_EMBEDDINGS_URL)'
      if (vectorReady()) {
        await repo.ensureVectorIndex(embeddings!.dimension)
        log.info({ model: embeddings!.model, dimension: embeddings!.dimension }, 'memory: hybrid search (full-text + pgvector HNSW)')
      } else log.warn({ reason: unavailable.vector }, `memory: search is full-text only: ${unavailable.vector}`)
    },

    /** The search paths this process can use. */
    paths: available,

    /** Adds entries (through the API); near-duplicates merge into the existing entry. */
    add: (principal: MemoryPrincipal, agentId: string, inputs: readonly NewMemoryInput[]) => add(principal, agentId, inputs, 'api'),

    /** Adds entries a model wrote through a tool: tagged and flagged untrusted. */
    addFromTool: (principal: MemoryPrincipal, agentId: string, inputs: readonly NewMemoryInput[]) => add(principal, agentId, inputs, 'tool'),

    async list(principal: MemoryPrincipal, agentId: string, input: ListMemoryInput) {
      agentOrThrow(agentId)
      const limit = clamp(input.limit, MEMORY_PAGE_DEFAULT, MEMORY_PAGE_MAX)
      const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor)
      const rows = await repo.list(principal.id, agentId, input, after, limit + 1)
      const items = rows.slice(0, limit)
      const last = items.at(-1)
      return { items: items as MemoryEntry[], nextCursor: rows.length > limit && last ? encodeCursor(`e1:${last.createdUs}:${last.id}`) : null }
    },

    /** Searches the agent's memory (for the API: that agent only). */
    async search(principal: MemoryPrincipal, agentId: string, input: SearchMemoryInput): Promise<MemorySearchResult> {
      agentOrThrow(agentId)
      return searchIn(principal, [agentId], input)
    },

    /** Searches what a running agent may read: its own memory and the memory its settings share. */
    async searchAsAgent(principal: MemoryPrincipal, agentId: string, input: SearchMemoryInput): Promise<MemorySearchResult> {
      // A model's query or a user's message is natural language: any term may match (ranked), not every one.
      return searchIn(principal, readScope(agentId), { match: 'any', ...input })
    },

    async delete(principal: MemoryPrincipal, agentId: string, id: string): Promise<void> {
      agentOrThrow(agentId)
      if (!(await repo.delete(principal.id, agentId, id))) throw notFound('memory entry', id)
    },

    async clear(principal: MemoryPrincipal, agentId: string): Promise<number> {
      agentOrThrow(agentId)
      return repo.clear(principal.id, agentId)
    },

    async stats(principal: MemoryPrincipal, agentId: string): Promise<MemoryStats> {
      agentOrThrow(agentId)
      const rows = await repo.stats(principal.id, agentId)
      const byKind: Record<MemoryKind, number> = { fact: 0, preference: 0, event: 0, note: 0 }
      const emb = { ready: 0, pending: 0, none: 0 }
      for (const r of rows) {
        byKind[r.kind] += r.count
        emb[r.state] += r.count
      }
      return {
        total: emb.ready + emb.pending + emb.none,
        byKind,
        embeddings: emb,
        index: {
          fullText: 'gin',
          vector: vectorReady() ? 'hnsw' : null,
          dimension: vectorReady() ? embeddings!.dimension : null,
          model: vectorReady() ? embeddings!.model : null,
          textSearchConfig: options.tsConfig,
        },
        paths: available(),
        unavailable: { ...unavailable },
      }
    },

    /** Embeds pending entries, a batch at a time, until none is left (or `maxBatches`); returns how many were stored. */
    async embedPending(signal?: AbortSignal, maxBatches = 1000): Promise<number> {
      if (!vectorReady()) return 0
      let stored = 0
      for (let i = 0; i < maxBatches; i++) {
        const batch = await repo.pending(options.embedBatch)
        if (batch.length === 0) break
        const vectors = await embeddings!.embed(
          batch.map((b) => b.text),
          signal,
        )
        stored += await repo.storeEmbeddings(
          embeddings!.model,
          embeddings!.dimension,
          batch.map((b, j) => ({ id: b.id, embedding: vectors[j]! })),
        )
        if (batch.length < options.embedBatch) break
      }
      return stored
    },

    /** Deletes expired entries; returns how many. */
    async purgeExpired(): Promise<number> {
      let total = 0
      for (;;) {
        const n = await repo.purgeExpired(1000)
        total += n
        if (n < 1000) break
      }
      if (total > 0) log.info({ purged: total }, 'memory: expired entries purged')
      return total
    },

    /** Re-embedding after a model or dimension change: marks every other entry pending and enqueues the job. */
    async reembed(): Promise<number> {
      if (!vectorReady()) throw invalidRequest(`cannot re-embed: ${unavailable.vector}`)
      await repo.ensureVectorIndex(embeddings!.dimension)
      const n = await repo.markForReembed(embeddings!.model, embeddings!.dimension)
      if (n > 0) await deps.jobs.add('memory.embed', {}, { jobId: `memory-reembed-${newId('memory')}` })
      return n
    },
  }

  async function searchIn(principal: MemoryPrincipal, agentIds: string[], input: SearchMemoryInput): Promise<MemorySearchResult> {
    const limit = clamp(input.limit, MEMORY_SEARCH_DEFAULT, MEMORY_SEARCH_MAX)
    const wanted: SearchMode = input.mode ?? (vectorReady() ? 'hybrid' : 'fts')
    const notes: string[] = []
    const candidates = Math.min(Math.max(limit * 4, 40), 200)
    const ftsPromise = repo.fts(principal.id, agentIds, options.tsConfig, input.query, input, wanted === 'vector' ? limit : candidates, input.match)
    let vectorPromise: Promise<Awaited<ReturnType<typeof repo.vector>> | undefined> = Promise.resolve(undefined)
    if (wanted !== 'fts') {
      if (!vectorReady()) notes.push(`vector search unavailable: ${unavailable.vector}`)
      else
        vectorPromise = embedQuery(input.query)
          .then((v) => repo.vector(principal.id, agentIds, embeddings!.dimension, v, input, wanted === 'vector' ? limit : candidates))
          .catch((err: Error) => {
            log.warn({ err: err.message }, 'memory: vector search failed; answering with full-text only')
            notes.push('vector search failed; full-text only')
            return undefined
          })
    }
    const [fts, vec] = await Promise.all([ftsPromise, vectorPromise])
    const paths: SearchPath[] = []
    if (wanted !== 'vector' || !vec) paths.push('fts')
    if (vec) paths.push('vector')
    const mode: SearchMode = paths.length === 2 ? 'hybrid' : paths[0]!
    // Only stop words or punctuation: a valid, empty answer on every path.
    if (fts.lexemes === 0) return { mode, paths, items: [], notes }
    const ftsById = new Map(fts.hits.map((h) => [h.entry.id, h]))
    const vecById = new Map((vec ?? []).map((h) => [h.entry.id, h]))
    let ordered: { id: string; score: number }[]
    if (mode === 'hybrid') ordered = reciprocalRankFusion([{ ids: fts.hits.map((h) => h.entry.id) }, { ids: (vec ?? []).map((h) => h.entry.id) }])
    else if (mode === 'vector') ordered = (vec ?? []).map((h) => ({ id: h.entry.id, score: h.similarity }))
    else ordered = fts.hits.map((h) => ({ id: h.entry.id, score: h.rank }))
    const items = ordered.slice(0, limit).map(({ id, score }): MemoryHit => {
      const f = ftsById.get(id)
      const v = vecById.get(id)
      return { entry: (f ?? v)!.entry, score, ftsRank: f ? f.rank : null, similarity: v ? v.similarity : null }
    })
    return { mode, paths, items, notes }
  }
}
export type MemoryService = ReturnType<typeof createMemoryService>
