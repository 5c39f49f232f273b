/**
 * Baseline worker for the async scenario: raw BullMQ, no OpenVesper code. Each job does exactly one Postgres
 * INSERT. Same Redis, same Postgres, same concurrency and pool size as the gateway worker it is compared with,
 * and the product's job options (removeOnComplete/removeOnFail, attempts 1). Runs in its own process, like the
 * gateway worker. bullmq/ioredis/postgres are resolved from the workspace packages that depend on them
 * (see lib/deps.ts).
 */
import { bullmq, postgres, Redis } from '../lib/deps.js'

const cfg = JSON.parse(process.argv[2] ?? '{}') as {
  redisUrl: string
  prefix: string
  queueName: string
  databaseUrl: string
  concurrency: number
  poolMax: number
}
const sql = postgres(cfg.databaseUrl, { max: cfg.poolMax, onnotice: () => {}, connection: { application_name: 'ov-bench-raw' } })
await sql`select 1`
const connection = new Redis(cfg.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null })
const worker = new bullmq.Worker(
  cfg.queueName,
  async (job: { id: string; data: { n: number; t: number } }) => {
    await sql`insert into bench_raw_jobs (id, n, enqueued_at) values (${job.id}, ${job.data.n}, ${job.data.t})`
  },
  { connection, prefix: cfg.prefix, concurrency: cfg.concurrency, autorun: true },
)
worker.on('error', () => {})
await worker.waitUntilReady()

process.on('message', (raw) => {
  const cmd = raw as { id: number; type: string }
  if (cmd.type === 'close') {
    void (async () => {
      await worker.close()
      connection.disconnect()
      await sql.end({ timeout: 5 })
      process.send?.({ id: cmd.id, ok: true })
      process.disconnect?.()
    })()
  }
})
process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready' })
