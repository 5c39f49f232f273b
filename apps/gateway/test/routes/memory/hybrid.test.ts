import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { fillerEntries, NEEDLES } from './corpus.js'
import { EMBED_DIM, type MemoryFixture, startMemoryFixture } from './fixture.js'

const agent = (a: string) => ({ params: { path: { agent: a } } })

/**
 * Hybrid search on real pgvector (server: the Postgres extension; embedded: PGlite's build), embeddings from the
 * scripted upstream's deterministic `/v1/embeddings`: pending embeddings, relevance on a generated corpus (full-text
 * only and hybrid), filters inside the vector query.
 */
describe.each(MODES)('memory hybrid search (%s mode)', (mode) => {
  let f: MemoryFixture
  let c: OpenVesperClient
  const needleIds: string[] = []

  const search = async (body: Record<string, unknown>, client = c) => {
    const res = await client.POST('/memory/{agent}/search', { ...agent('main'), body: body as never })
    expect(res.response.status, JSON.stringify(res.error)).toBe(200)
    return res.data!
  }
  const stats = async (client = c) => (await client.GET('/memory/{agent}/stats', agent('main'))).data!

  beforeAll(async () => {
    // No periodic sweep during the tests: the embed job alone meets the scripted faults.
    f = await startMemoryFixture(mode, { embeddings: true, env: { OPENVESPER_MEMORY_PURGE_INTERVAL_MS: '3600000' } })
    c = await f.principal()
  })
  afterAll(async () => {
    await f?.close()
  })

  it('finds a pending entry by full-text, embeds it in the background (after the provider’s back-off) and then finds it by vector', async () => {
    const p = await f.principal()
    // The provider refuses twice with Retry-After: the entry stays pending meanwhile.
    f.up.enqueueEmbeddingFaults({ status: 503, retryAfter: 2 }, { status: 429, retryAfter: 2 })
    const res = await p.POST('/memory/{agent}', {
      ...agent('main'),
      body: { entries: [{ text: 'The spare key hides under the blue flowerpot', kind: 'fact' }] },
    })
    expect(res.response.status).toBe(201)
    expect(res.data!.items[0]!.entry.embedding).toBe('pending')
    const id = res.data!.items[0]!.entry.id
    const early = await search({ query: 'flowerpot', mode: 'fts' }, p)
    expect(early.items.map((h) => h.entry.id)).toEqual([id])
    expect(early.items[0]!.entry.embedding).toBe('pending')
    expect((await stats(p)).embeddings).toEqual({ ready: 0, pending: 1, none: 0 })

    await waitFor(async () => (await stats(p)).embeddings.ready === 1, { timeoutMs: 20_000 })
    const calls = f.up.embeddingRequests.filter((r) => JSON.stringify(r.body.input).includes('flowerpot'))
    expect(calls.length).toBeGreaterThanOrEqual(3) // two refusals, then the answer
    expect(calls[0]!.body).toMatchObject({ model: 'fake-embedding', dimensions: EMBED_DIM })
    const later = await search({ query: 'flowerpots spare key', mode: 'vector' }, p)
    expect(later.paths).toEqual(['vector'])
    expect(later.items[0]!.entry.id).toBe(id)
    expect(later.items[0]!.similarity).toBeGreaterThan(0.3)
    expect(later.items[0]!.entry.embedding).toBe('ready')
  })

  it('loads a corpus of 1,010 entries and embeds every one in batches', async () => {
    const filler = fillerEntries(1000)
    for (let i = 0; i < filler.length; i += 100) {
      const res = await c.POST('/memory/{agent}', { ...agent('main'), body: { entries: filler.slice(i, i + 100) } })
      expect(res.response.status).toBe(201)
    }
    const res = await c.POST('/memory/{agent}', {
      ...agent('main'),
      body: { entries: NEEDLES.map((n) => ({ text: n.text, kind: 'fact' as const, tags: ['needle'] })) },
    })
    needleIds.push(...res.data!.items.map((w) => w.entry.id))
    await waitFor(async () => (await stats()).embeddings.pending === 0, { timeoutMs: 120_000 })
    const s = await stats()
    expect(s.total).toBeGreaterThanOrEqual(1000)
    expect(s.embeddings.ready).toBe(s.total)
    expect(s).toMatchObject({ paths: ['fts', 'vector'], index: { vector: 'hnsw', dimension: EMBED_DIM, model: 'fake-embedding' }, unavailable: {} })
    // Batches: far fewer provider calls than entries.
    const inputs = f.up.embeddingRequests.map((r) => (Array.isArray(r.body.input) ? r.body.input.length : 1))
    expect(Math.max(...inputs)).toBe(64)
  }, 180_000)

  it('ranks each needle in the top 5 for its full-text query, full-text only and hybrid', async () => {
    expect(needleIds).toHaveLength(NEEDLES.length)
    for (const [i, n] of NEEDLES.entries()) {
      const fts = await search({ query: n.fts, mode: 'fts', limit: 5 })
      expect(fts.paths).toEqual(['fts'])
      expect(
        fts.items.map((h) => h.entry.id),
        `fts: ${n.fts}`,
      ).toContain(needleIds[i])
      const hybrid = await search({ query: n.fts, limit: 5 })
      expect(hybrid.mode).toBe('hybrid')
      expect(hybrid.paths).toEqual(['fts', 'vector'])
      expect(
        hybrid.items.map((h) => h.entry.id),
        `hybrid: ${n.fts}`,
      ).toContain(needleIds[i])
      const top = hybrid.items.find((h) => h.entry.id === needleIds[i])!
      expect(top.ftsRank).toBeGreaterThan(0)
      expect(top.similarity).toBeGreaterThan(0)
    }
  })

  it('finds misspelt queries only through the vector path: absent from full-text, in the hybrid top 5', async () => {
    for (const [i, n] of NEEDLES.entries()) {
      const fts = await search({ query: n.fuzzy, mode: 'fts', limit: 5 })
      expect(
        fts.items.map((h) => h.entry.id),
        `fts: ${n.fuzzy}`,
      ).not.toContain(needleIds[i])
      const hybrid = await search({ query: n.fuzzy, limit: 5 })
      expect(
        hybrid.items.map((h) => h.entry.id),
        `hybrid: ${n.fuzzy}`,
      ).toContain(needleIds[i])
    }
  })

  it('applies filters inside the vector query, not after a top-k cut', async () => {
    // Only 10 entries carry the tag among 1,010: a post-filter of the nearest 40 would miss most of them.
    const tagged = await search({ query: 'river window garden paper', mode: 'vector', tags: ['needle'], limit: 10 })
    expect(tagged.items.map((h) => h.entry.id).sort()).toEqual([...needleIds].sort())
    const events = await search({ query: 'river window garden paper', mode: 'vector', kind: ['event'], limit: 20 })
    expect(events.items).toHaveLength(20)
    expect(new Set(events.items.map((h) => h.entry.kind))).toEqual(new Set(['event']))
    const scores = events.items.map((h) => h.score)
    expect(scores).toEqual([...scores].sort((a, b) => b - a))
    // Stop words only: empty on both paths.
    const empty = await search({ query: 'the of and' })
    expect(empty.items).toEqual([])
  })

  it('keeps another principal out of the vector path too (A05)', async () => {
    const other = await f.principal()
    const r = await search({ query: NEEDLES[0]!.fuzzy }, other)
    expect(r.mode).toBe('hybrid')
    expect(r.items).toEqual([])
  })
})
