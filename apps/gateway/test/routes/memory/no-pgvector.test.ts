import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient } from '@openvesper/client'
import { createTestDatabase, createTestRedis, startFakeUpstream } from '@openvesper/testing'
import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { buildTestApp, upstreamEnv } from '../../support/helpers.js'

/**
 * A server whose database lacks pgvector (the extension dropped from a migrated database, its vector column with it):
 * memory still works full-text only, with an embedding provider configured; stats and every search say so.
 */
describe('memory on a database without pgvector (server mode)', () => {
  it('answers full-text only, says why, and never calls the embedding provider for entries', async () => {
    const database = await createTestDatabase()
    const redis = await createTestRedis()
    const up = await startFakeUpstream()
    const admin = postgres(database.url, { max: 1, onnotice: () => {} })
    await admin.unsafe('drop extension vector cascade')
    const [row] = await admin<
      { has: boolean }[]
    >`select exists(select 1 from information_schema.columns where table_name = 'memory_entries' and column_name = 'embedding') as has`
    expect(row?.has).toBe(false)
    await admin.end()
    const dir = mkdtempSync(join(tmpdir(), 'ov-memory-nopgv-'))
    writeFileSync(join(dir, 'agents.json'), JSON.stringify({ agents: [{ id: 'main' }] }))
    const t = await buildTestApp({
      env: upstreamEnv(up, {
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        OPENVESPER_REDIS_PREFIX: redis.prefix,
        OPENVESPER_CONFIG: join(dir, 'agents.json'),
        OPENVESPER_EMBEDDINGS_URL: `${up.url}/v1`,
        OPENVESPER_EMBEDDINGS_DIMENSION: '64',
      }),
    })
    try {
      expect(t.runtime.info.mode).toBe('server')
      const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
      const c = createOpenVesperClient({ baseUrl: base, token: await t.tokenWith(['memory:read', 'memory:write']) })
      const p = { params: { path: { agent: 'main' } } }
      const added = await c.POST('/memory/{agent}', { ...p, body: { entries: [{ text: 'Server without vectors still remembers tulips', kind: 'fact' }] } })
      expect(added.response.status).toBe(201)
      expect(added.data!.items[0]!.entry.embedding).toBe('none')
      const r = await c.POST('/memory/{agent}/search', { ...p, body: { query: 'tulips' } })
      expect(r.data).toMatchObject({ mode: 'fts', paths: ['fts'] })
      expect(r.data!.items.map((h) => h.entry.text)).toEqual(['Server without vectors still remembers tulips'])
      const v = await c.POST('/memory/{agent}/search', { ...p, body: { query: 'tulips', mode: 'hybrid' } })
      expect(v.data!.paths).toEqual(['fts'])
      expect(v.data!.notes.join(' ')).toMatch(/pgvector extension is not installed/)
      const s = await c.GET('/memory/{agent}/stats', p)
      expect(s.data).toMatchObject({ paths: ['fts'], index: { vector: null }, embeddings: { none: 1, pending: 0, ready: 0 } })
      expect(s.data!.unavailable.vector).toMatch(/pgvector/)
      expect(up.embeddingRequests).toEqual([])
    } finally {
      await t.close()
      await up.close()
      await redis.cleanup()
      await database.drop()
    }
  })
})
