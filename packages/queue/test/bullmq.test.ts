import { Redis } from 'ioredis'
import { isAppError } from '@openvesper/shared'
import { createTestRedis, waitFor, type TestRedis } from '@openvesper/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defaultRepeatStrategy } from 'bullmq'
import { createBullmqQueue, type BullmqJobQueue } from '../src/bullmq.js'
import { nextCronFire, nextCronFires } from '../src/internal.js'
import type { JobQueue, WorkerHost } from '../src/types.js'
import { defineJobQueueContractTests } from './contract.js'
import { captureLog, startTcpProxy, type TcpProxy } from './helpers.js'

let redis: TestRedis
let queueCounter = 0
const nextQueueName = () => `q${++queueCounter}`

beforeAll(async () => {
  redis = await createTestRedis()
})
afterAll(async () => {
  await redis.cleanup()
})

defineJobQueueContractTests('bullmq', ({ log }) => createBullmqQueue({ redisUrl: redis.url, prefix: redis.prefix, queueName: nextQueueName(), log }))

describe('bullmq queue', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  /** One "process": its own queue (connections) on the shared prefix and queue name. */
  async function processOn(queueName: string, redisUrl = redis.url, log = captureLog().log): Promise<BullmqJobQueue> {
    const queue = createBullmqQueue({ redisUrl, prefix: redis.prefix, queueName, log })
    cleanups.push(() => queue.close())
    await queue.start()
    return queue
  }

  async function workersOn(queue: JobQueue, options: Parameters<JobQueue['startWorkers']>[0]): Promise<WorkerHost> {
    const host = await queue.startWorkers(options)
    cleanups.push(() => host.close(500))
    return host
  }

  it('delivers 200 jobs exactly once in total across two worker hosts', async () => {
    const queueName = nextQueueName()
    const a = await processOn(queueName)
    const b = await processOn(queueName)
    const deliveries: Array<{ jobId: string; workerId: string }> = []
    const handlers = (): Parameters<JobQueue['startWorkers']>[0]['handlers'] => ({
      'bulk.run': async (_data, ctx) => {
        deliveries.push({ jobId: ctx.jobId, workerId: ctx.workerId })
        await new Promise((r) => setImmediate(r))
      },
    })
    await workersOn(a, { handlers: handlers(), concurrency: 5, workerId: 'host_a' })
    await workersOn(b, { handlers: handlers(), concurrency: 5, workerId: 'host_b' })
    const ids = Array.from({ length: 200 }, (_, i) => `bulk_${i}`)
    await Promise.all(ids.map((jobId, i) => (i % 2 ? a : b).enqueue('bulk.run', { i }, { jobId })))
    await waitFor(() => deliveries.length >= 200, { what: '200 deliveries', timeoutMs: 20_000 })

    expect(deliveries).toHaveLength(200)
    expect(new Set(deliveries.map((d) => d.jobId))).toEqual(new Set(ids))
    expect(new Set(deliveries.map((d) => d.workerId))).toEqual(new Set(['host_a', 'host_b']))
  })

  it('runs each every() tick once across two worker hosts that both registered the scheduler', async () => {
    const queueName = nextQueueName()
    const a = await processOn(queueName)
    const b = await processOn(queueName)
    const ticks: Array<{ tickAt: string; workerId: string }> = []
    const handlers = {
      'heartbeat.run': async (data: Record<string, unknown>, ctx: { workerId: string }) => {
        ticks.push({ tickAt: data.tickAt as string, workerId: ctx.workerId })
      },
    }
    await workersOn(a, { handlers, concurrency: 2, workerId: 'host_a' })
    await workersOn(b, { handlers, concurrency: 2, workerId: 'host_b' })
    await a.every('heartbeat', 'heartbeat.run', 100)
    await b.every('heartbeat', 'heartbeat.run', 100)
    await waitFor(() => ticks.length >= 8, { what: '8 ticks', timeoutMs: 10_000 })

    const tickAts = ticks.map((t) => t.tickAt)
    expect(new Set(tickAts).size).toBe(tickAts.length)
  })

  it("computes the same cron fire times as BullMQ's own repeat strategy, across time zones and DST changes", () => {
    const patterns: Array<[string, string | undefined]> = [
      ['*/7 * * * *', undefined],
      ['0 9 * * 1-5', 'America/New_York'],
      ['30 2 * * *', 'Europe/Berlin'], // 02:30 does not exist on the spring-forward day and occurs twice in autumn
      ['0 1-3 * * 0', 'America/Los_Angeles'],
      ['0 0 29 2 *', 'UTC'],
      ['15 */5 * * * *', 'Asia/Kolkata'],
      ['0 0 L * *', 'Australia/Lord_Howe'],
      ['0 12 * * 5#2', 'Pacific/Chatham'],
    ]
    const froms = ['2026-03-07T12:34:56.789Z', '2026-10-24T23:59:59.999Z', '2027-12-31T23:00:00.000Z'].map((d) => Date.parse(d))
    for (const [pattern, tz] of patterns) {
      for (const from of froms) {
        // BullMQ chains iterations: each next one from the previous tick (the iteration started on time).
        const bullmq: number[] = []
        let millis = from
        for (let i = 0; i < 12; i++) {
          const next = defaultRepeatStrategy(millis, { pattern, ...(tz === undefined ? {} : { tz }) })
          if (next === undefined) break
          bullmq.push(next)
          millis = next
        }
        expect(bullmq, `${pattern} in ${tz ?? 'UTC'} from ${new Date(from).toISOString()}`).toHaveLength(12)
        expect(nextCronFires(pattern, from, 12, tz), `${pattern} in ${tz ?? 'UTC'}`).toEqual(bullmq)
      }
    }
  })

  it('stores the delayed job of a cron scheduler at the fire time nextCronFire computes', async () => {
    const queueName = `cron_${redis.prefix}`
    const queue = await processOn(queueName)
    const client = new Redis(redis.url)
    cleanups.push(() => void client.disconnect())
    const cases: Array<[string, string, string | undefined]> = [
      ['cron_ny', '0 9 * * 1-5', 'America/New_York'],
      ['cron_berlin', '30 2 * * *', 'Europe/Berlin'],
      ['cron_monthly', '0 0 1 * *', undefined],
    ]
    for (const [id, pattern, tz] of cases) {
      const before = Date.now()
      await queue.cron(id, 'cron.run', pattern, { ...(tz === undefined ? {} : { tz }), data: { id } })
      const after = Date.now()
      const delayed = await client.zrange(`${redis.prefix}:${queueName}:delayed`, '0', '-1')
      const job = delayed.find((jobId) => jobId.startsWith(`repeat:${id}:`))
      expect(job, `${id}: delayed job`).toBeDefined()
      const millis = Number(job!.split(':').at(-1))
      expect([nextCronFire(pattern, before, tz), nextCronFire(pattern, after, tz)]).toContain(millis)
      const stored = await client.hgetall(`${redis.prefix}:${queueName}:${job}`)
      expect(JSON.parse(stored.data ?? '{}')).toEqual({ id })
      expect(Number(stored.timestamp) + Number(stored.delay)).toBe(millis)
    }
    expect(await queue.removeScheduler('cron_ny')).toBe(true)
    const left = await client.zrange(`${redis.prefix}:${queueName}:delayed`, '0', '-1')
    expect(left.some((jobId) => jobId.startsWith('repeat:cron_ny:'))).toBe(false)
    expect(left.filter((jobId) => jobId.startsWith('repeat:'))).toHaveLength(2)
  })

  it('runs each tick of a cron scheduler once across two worker hosts that both registered it', async () => {
    const queueName = nextQueueName()
    const a = await processOn(queueName)
    const b = await processOn(queueName)
    const ticks: string[] = []
    const handlers = { 'cron.beat': async (data: Record<string, unknown>) => void ticks.push(data.tickAt as string) }
    await workersOn(a, { handlers, concurrency: 2, workerId: 'host_a' })
    await workersOn(b, { handlers, concurrency: 2, workerId: 'host_b' })
    await a.cron('beat', 'cron.beat', '* * * * * *')
    await b.cron('beat', 'cron.beat', '* * * * * *')
    await waitFor(() => ticks.length >= 3, { what: '3 ticks', timeoutMs: 10_000 })
    expect(new Set(ticks).size).toBe(ticks.length)
  })

  it('keeps every key under the prefix', async () => {
    const queueName = `keys_${redis.prefix}` // unique across concurrent runs, which use other prefixes
    const queue = await processOn(queueName)
    await queue.enqueue('kept.run', { x: 1 }, { jobId: 'kept_1' })
    await queue.every('kept_sched', 'kept.run', 60_000)
    const client = new Redis(redis.url)
    cleanups.push(() => void client.disconnect())
    const keys = await client.keys(`*${queueName}*`)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expect(key.startsWith(`${redis.prefix}:${queueName}:`)).toBe(true)
  })

  it('fails fast, without hanging, when Redis is unreachable', async () => {
    const queue = createBullmqQueue({ redisUrl: 'redis://127.0.0.1:1', prefix: redis.prefix, queueName: nextQueueName() })
    cleanups.push(() => queue.close())
    const t0 = Date.now()
    await expect(queue.start()).rejects.toThrow(/cannot reach Redis at 127\.0\.0\.1:1/)
    await expect(queue.enqueue('x.run', {}, { jobId: 'unreachable' })).rejects.toThrow()
    expect(Date.now() - t0).toBeLessThan(3_000)
  })

  describe('through a connection that goes down', () => {
    let proxy: TcpProxy
    beforeAll(async () => {
      proxy = await startTcpProxy(redis.url)
    })
    afterAll(async () => {
      await proxy.close()
    })
    afterEach(async () => {
      await proxy.resume().catch(() => {})
    })

    it('rejects enqueue within 3 s with an unavailable error when Redis goes away', async () => {
      const queue = await processOn(nextQueueName(), proxy.url)
      await queue.enqueue('x.run', {}, { jobId: 'before_outage' })
      await proxy.stop()
      const t0 = Date.now()
      const err = await queue.enqueue('x.run', {}, { jobId: 'during_outage' }).catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(3_000)
      expect(isAppError(err) && err.code).toBe('unavailable')

      await proxy.resume()
      await waitFor(() => queue.enqueue('x.run', {}, { jobId: 'after_outage' }).then(() => true), { what: 'enqueue after Redis is back', timeoutMs: 10_000 })
    })

    it('resumes consuming after Redis comes back', async () => {
      const queueName = nextQueueName()
      const { log, entries } = captureLog()
      const consumer = await processOn(queueName, proxy.url, log)
      const producer = await processOn(queueName)
      const seen: string[] = []
      await workersOn(consumer, { handlers: { 'resume.run': async (_d, ctx) => void seen.push(ctx.jobId) }, concurrency: 1, workerId: 'proxied' })
      await producer.enqueue('resume.run', {}, { jobId: 'resume_1' })
      await waitFor(() => seen.includes('resume_1'), { what: 'first job' })

      await proxy.stop()
      await producer.enqueue('resume.run', {}, { jobId: 'resume_2' })
      await waitFor(() => entries.some((e) => e.level === 'warn' && e.msg.startsWith('job worker: Redis error')), {
        what: 'the worker to notice the outage',
      })
      expect(seen).toEqual(['resume_1'])
      await proxy.resume()
      await waitFor(() => seen.includes('resume_2'), { what: 'job enqueued during the outage', timeoutMs: 20_000 })
      expect(seen).toEqual(['resume_1', 'resume_2'])
    })
  })
})
