import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import {
  AddBody,
  AgentParams,
  ClearBody,
  EntryParams,
  ListQuery,
  MemoryClearResultSchema,
  MemoryListSchema,
  MemorySearchResultSchema,
  MemoryStatsSchema,
  MemoryWriteResultSchema,
  memoryComponents,
  SearchBody,
  toMemoryEntry,
  toSearchResult,
} from './schemas.js'

const TAG = 'Memory'
const date = (s: string | undefined) => (s === undefined ? undefined : new Date(s))

/** An agent's memory for the caller's principal: another principal's or agent's entries do not exist here (404 for an entry). */
const memoryRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'memory'> }> = async (app, { services }) => {
  const { memory } = services

  app.get(
    '/memory/:agent',
    {
      schema: {
        operationId: 'listMemory',
        summary: "List an agent's memory",
        description: 'Newest first, a page at a time (follow `nextCursor`), filtered by kind, tag, session and creation time. 404 for an unknown agent.',
        tags: [TAG],
        params: AgentParams,
        querystring: ListQuery,
        response: { 200: ref(MemoryListSchema) },
      },
      config: { auth: { scopes: ['memory:read'] } },
    },
    async (request) => {
      const q = request.query
      const page = await memory.list(request.principal, request.params.agent, {
        kind: q.kind ? [q.kind] : undefined,
        tags: q.tag ? [q.tag] : undefined,
        sessionKey: q.sessionKey,
        since: date(q.since),
        before: date(q.before),
        cursor: q.cursor,
        limit: q.limit,
      })
      return { items: page.items.map(toMemoryEntry), nextCursor: page.nextCursor }
    },
  )

  app.post(
    '/memory/:agent',
    {
      schema: {
        operationId: 'addMemory',
        summary: 'Add memory entries',
        description:
          'Adds one or more entries (stored verbatim). An entry with the same normalised text (case, Unicode compatibility forms and whitespace folded) as one the agent holds merges into it (`merged: true`) unless dedupe is off. With an embedding provider, entries are embedded in the background (`embedding: pending`) and are found by full-text search meanwhile.',
        tags: [TAG],
        params: AgentParams,
        body: AddBody,
        response: { 201: ref(MemoryWriteResultSchema) },
      },
      config: { auth: { scopes: ['memory:write'] } },
    },
    async (request, reply) => {
      const written = await memory.add(
        request.principal,
        request.params.agent,
        request.body.entries.map((e) => ({ ...e, expiresAt: date(e.expiresAt) })),
      )
      return reply.code(201).send({ items: written.map((w) => ({ entry: toMemoryEntry(w), merged: w.merged })) })
    },
  )

  app.post(
    '/memory/:agent/search',
    {
      schema: {
        operationId: 'searchMemory',
        summary: "Search an agent's memory",
        description:
          'Full-text (ts_rank_cd over a GIN-indexed tsvector) fused with pgvector cosine similarity (HNSW) by reciprocal rank when vector search is available; filters apply inside the query. The answer says which paths answered. A query of only stop words or punctuation is an empty answer.',
        tags: [TAG],
        params: AgentParams,
        body: SearchBody,
        response: { 200: ref(MemorySearchResultSchema) },
      },
      config: { auth: { scopes: ['memory:read'] } },
    },
    async (request) => {
      const b = request.body
      const result = await memory.search(request.principal, request.params.agent, {
        query: b.query,
        limit: b.limit,
        mode: b.mode,
        match: b.match,
        kind: b.kind,
        tags: b.tags,
        sessionKey: b.sessionKey,
        since: date(b.since),
        before: date(b.before),
        metadata: b.metadata,
      })
      return toSearchResult(result)
    },
  )

  app.get(
    '/memory/:agent/stats',
    {
      schema: {
        operationId: 'getMemoryStats',
        summary: "Count an agent's memory",
        description: 'Entries by kind and embedding state, the indexes, and which search paths are available (and why one is not).',
        tags: [TAG],
        params: AgentParams,
        response: { 200: ref(MemoryStatsSchema) },
      },
      config: { auth: { scopes: ['memory:read'] } },
    },
    async (request) => memory.stats(request.principal, request.params.agent),
  )

  app.delete(
    '/memory/:agent/:id',
    {
      schema: {
        operationId: 'deleteMemoryEntry',
        summary: 'Delete a memory entry',
        tags: [TAG],
        params: EntryParams,
        response: { 204: Type.Null({ description: 'Deleted.' }) },
      },
      config: { auth: { scopes: ['memory:write'] } },
    },
    async (request, reply) => {
      await memory.delete(request.principal, request.params.agent, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.delete(
    '/memory/:agent',
    {
      schema: {
        operationId: 'clearMemory',
        summary: "Clear an agent's memory",
        description: 'Deletes every entry of the agent for the caller. Needs `{"confirm": true}`; answers with the count removed.',
        tags: [TAG],
        params: AgentParams,
        body: ClearBody,
        response: { 200: ref(MemoryClearResultSchema) },
      },
      config: { auth: { scopes: ['memory:write'] } },
    },
    async (request) => ({ deleted: await memory.clear(request.principal, request.params.agent) }),
  )
}

/** `/memory/:agent…`: per-agent memory (entries, hybrid search, stats). */
export const memoryFeature = defineFeature({
  tag: { name: TAG, description: 'Per-agent memory of the caller: entries, full-text and vector search fused by rank, statistics.' },
  components: memoryComponents,
  needs: ['memory'],
  plugin: memoryRoutes,
})
