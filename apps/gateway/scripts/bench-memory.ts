/**
 * Memory search at scale, in one process: the memory service's search (full-text, vector, hybrid) beside the same
 * statement as raw SQL on the same connection pool; insert throughput batched, with and without embeddings (vectors
 * from the scripted upstream's deterministic function, written directly). Server mode (Postgres with pgvector).
 *   cd apps/gateway && npx tsx --conditions=@openvesper/source scripts/bench-memory.ts [entries=100000]
 */
import { createDb, migrate, rawSql } from '@openvesper/db'
import { createMemoryService, type EmbeddingsClient, memoryJobs } from '@openvesper/memory'
import { createInProcessQueue, createJobProducer } from '@openvesper/queue'
import { systemClock } from '@openvesper/shared'
import { fakeEmbedding } from '@openvesper/testing'
import postgres from 'postgres'

const N = Number(process.argv[2] ?? 100_000)
const DIM = 64
const ADMIN = process.env.OPENVESPER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `ov_bench_${Date.now().toString(36)}_mem`
const admin = postgres(ADMIN, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database ${name}`)
const url = ADMIN.replace(/\/[^/]*$/, `/${name}`)
const log = { info() {}, warn() {}, error() {}, debug() {}, child: () => log } as never
const handle = createDb({ kind: 'postgres', url, max: 10 })
const embeddings: EmbeddingsClient = { model: 'fake', dimension: DIM, embed: async (texts) => texts.map((t) => fakeEmbedding(t, DIM)) }
const queue = createInProcessQueue({ log })
const memory = createMemoryService({
  db: handle.db,
  jobs: createJobProducer(queue, memoryJobs),
  clock: systemClock,
  log,
  agents: { has: () => true, memory: () => ({ inject: 0, sharedWith: [] }) },
  options: { tsConfig: 'english', dedupe: true, embeddings, embedBatch: 500, purgeIntervalMs: 60_000 },
})
const WORDS =
  'river window garden paper yellow music history engine planet coffee morning evening table chair mountain ocean forest city street bridge train station market bread cheese apple orange lemon water stone silver golden copper blanket pillow lamp clock mirror picture camera phone letter pencil notebook desk office meeting project report review update plan idea question answer problem solution'.split(
    ' ',
  )
let seed = 7
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
const sentence = (i: number) => `${Array.from({ length: 10 }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(' ')} ${i}`
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2)

try {
  await migrate(handle)
  await memory.start()
  const principal = { id: 'prn_bench' }
  const t0 = performance.now()
  for (let i = 0; i < N; i += 1000) {
    await memory.add(
      principal,
      'main',
      Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ text: sentence(i + j), kind: 'note' as const })),
    )
  }
  const insertS = (performance.now() - t0) / 1000
  const t1 = performance.now()
  const embedded = await memory.embedPending()
  const embedS = (performance.now() - t1) / 1000
  console.log(
    `entries ${N}: insert ${insertS.toFixed(1)} s (${Math.round(N / insertS)}/s, batches of 1000), embed+store ${embedded} in ${embedS.toFixed(1)} s (${Math.round(embedded / embedS)}/s, HNSW maintained on insert)`,
  )
  const raw = rawSql(handle.db)
  const queries = ['river garden', 'coffee morning table', 'silver mirror camera', 'project report review', 'ocean bridge']
  const rounds = 200
  for (const mode of ['fts', 'vector', 'hybrid'] as const) {
    const svc: number[] = []
    for (let r = 0; r < rounds; r++) {
      const q = queries[r % queries.length]!
      const s = performance.now()
      await memory.search(principal, 'main', { query: q, limit: 10, mode })
      svc.push(performance.now() - s)
    }
    const sq: number[] = []
    for (let r = 0; r < rounds; r++) {
      const q = queries[r % queries.length]!
      const v = `[${fakeEmbedding(q, DIM).join(',')}]`
      const s = performance.now()
      if (mode !== 'vector')
        await raw.query(
          `select id, ts_rank_cd(search, websearch_to_tsquery('english', $1)) r from memory_entries where principal_id = $2 and agent_id = 'main'
           and search @@ websearch_to_tsquery('english', $1) order by r desc limit 40`,
          [q, principal.id],
        )
      if (mode !== 'fts')
        await raw.query(
          `select id from memory_entries where embedding_dim = ${DIM} and principal_id = $2 and agent_id = 'main'
           order by embedding::vector(${DIM}) <=> $1::vector(${DIM}) limit 40`,
          [v, principal.id],
        )
      sq.push(performance.now() - s)
    }
    console.log(`${mode.padEnd(6)} service p50 ${pct(svc, 50)} ms p99 ${pct(svc, 99)} ms | raw SQL p50 ${pct(sq, 50)} ms p99 ${pct(sq, 99)} ms`)
  }
} finally {
  await handle.close()
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.end()
}
