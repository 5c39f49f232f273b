/**
 * One contract suite per interface, run against every adapter: a behaviour that differs between the embedded and the
 * server mode is a bug.
 */
import type { Logger } from '@openvesper/shared'
import { waitFor } from '@openvesper/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { CountingEventBus } from '../src/events.js'
import { nextCronFire } from '../src/internal.js'
import type { JobContext, JobHandler, JobQueue, WorkerHost } from '../src/types.js'
import { aborted, captureLog, deferred, type Deferred, type LogEntry } from './helpers.js'

export type JobQueueFactory = (ctx: { log: Logger }) => JobQueue
export type EventBusFactory = (ctx: { log: Logger }) => CountingEventBus

export function defineJobQueueContractTests(name: string, factory: JobQueueFactory): void {
  describe(`JobQueue contract: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    async function startQueue(): Promise<{ queue: JobQueue; entries: LogEntry[] }> {
      const { log, entries } = captureLog()
      const queue = factory({ log })
      cleanups.push(() => queue.close())
      await queue.start()
      return { queue, entries }
    }

    async function startWorkers(
      queue: JobQueue,
      handlers: Record<string, JobHandler>,
      { concurrency = 4, workerId = 'w1' }: { concurrency?: number; workerId?: string } = {},
    ): Promise<WorkerHost> {
      const host = await queue.startWorkers({ handlers, concurrency, workerId })
      cleanups.push(() => host.close(200))
      return host
    }

    it('delivers every enqueued job exactly once, to the handler for its name, with its data', async () => {
      const { queue } = await startQueue()
      const seen: Array<{ name: string; jobId: string; data: Record<string, unknown> }> = []
      const record =
        (jobName: string): JobHandler =>
        async (data, ctx) => {
          seen.push({ name: jobName, jobId: ctx.jobId, data })
        }
      await startWorkers(queue, { 'alpha.run': record('alpha.run'), 'beta.run': record('beta.run') })
      for (let i = 0; i < 10; i++) {
        await queue.enqueue('alpha.run', { i, kind: 'alpha' }, { jobId: `alpha_${i}` })
        await queue.enqueue('beta.run', { i, kind: 'beta' }, { jobId: `beta_${i}` })
      }
      await queue.enqueue('alpha.run', { sentinel: true }, { jobId: 'sentinel' })
      await waitFor(() => seen.length >= 21 && seen.some((s) => s.jobId === 'sentinel'), { what: '21 deliveries' })

      expect(seen).toHaveLength(21)
      expect(new Set(seen.map((s) => s.jobId)).size).toBe(21)
      for (const s of seen.filter((x) => x.jobId !== 'sentinel')) {
        const [prefix, i] = s.jobId.split('_')
        expect(s.name).toBe(`${prefix}.run`)
        expect(s.data).toEqual({ i: Number(i), kind: prefix })
      }
    })

    it('hands the handler a JSON copy of the payload', async () => {
      const { queue } = await startQueue()
      let got: Record<string, unknown> | undefined
      await startWorkers(queue, { 'json.run': async (data) => void (got = data) })
      const payload = { at: new Date('2030-01-02T03:04:05.000Z'), gone: undefined, nested: { ids: ['a', 'b'] } }
      await queue.enqueue('json.run', payload, { jobId: 'json_1' })
      payload.nested.ids.push('mutated after enqueue')
      expect(await waitFor(() => got, { what: 'delivery' })).toStrictEqual({ at: '2030-01-02T03:04:05.000Z', nested: { ids: ['a', 'b'] } })
    })

    it('passes the job id, the worker id and a live abort signal to the handler', async () => {
      const { queue } = await startQueue()
      let ctx: JobContext | undefined
      await startWorkers(queue, { 'ctx.check': async (_data, c) => void (ctx = c) }, { workerId: 'worker_ctx' })
      await queue.enqueue('ctx.check', {}, { jobId: 'ctx_1' })
      const got = await waitFor(() => ctx, { what: 'delivery' })
      expect(got.jobId).toBe('ctx_1')
      expect(got.workerId).toBe('worker_ctx')
      expect(got.signal).toBeInstanceOf(AbortSignal)
      expect(got.signal.aborted).toBe(false)
    })

    it('holds jobs enqueued before workers start, and delivers a jobId enqueued twice while waiting only once', async () => {
      const { queue } = await startQueue()
      const ids: string[] = []
      await queue.enqueue('dedupe.run', { n: 1 }, { jobId: 'dup' })
      await queue.enqueue('dedupe.run', { n: 2 }, { jobId: 'dup' })
      await queue.enqueue('dedupe.run', {}, { jobId: 'after_dup' })
      // Concurrency 1 and FIFO: a second copy of 'dup' would run before 'after_dup'.
      await startWorkers(queue, { 'dedupe.run': async (_d, ctx) => void ids.push(ctx.jobId) }, { concurrency: 1 })
      await waitFor(() => ids.includes('after_dup'), { what: 'after_dup delivered' })
      expect(ids).toEqual(['dup', 'after_dup'])
    })

    it('treats jobs enqueued at the same moment (one batch) like jobs enqueued one by one', async () => {
      const { queue } = await startQueue()
      const seen: Array<{ id: string; at: number }> = []
      await startWorkers(queue, { 'same.run': async (_d, ctx) => void seen.push({ id: ctx.jobId, at: Date.now() }) }, { concurrency: 4 })
      const t0 = Date.now()
      await Promise.all([
        queue.enqueue('same.run', { n: 1 }, { jobId: 'same_dup' }),
        queue.enqueue('same.run', { n: 2 }, { jobId: 'same_dup' }),
        queue.enqueue('same.run', {}, { jobId: 'same_later', delayMs: 300 }),
        ...Array.from({ length: 10 }, (_, i) => queue.enqueue('same.run', { i }, { jobId: `same_${i}` })),
      ])
      await waitFor(() => seen.some((s) => s.id === 'same_later'), { what: 'the delayed job' })
      expect(seen.filter((s) => s.id === 'same_dup')).toHaveLength(1)
      expect(seen.filter((s) => s.id.startsWith('same_') && /^same_\d+$/.test(s.id))).toHaveLength(10)
      expect(seen.find((s) => s.id === 'same_later')!.at - t0).toBeGreaterThanOrEqual(280)
    })

    it('delivers a delayed job after its delay, once even when enqueued twice', async () => {
      const { queue } = await startQueue()
      const seen: Array<{ id: string; data: Record<string, unknown> }> = []
      await startWorkers(queue, { 'later.run': async (data, ctx) => void seen.push({ id: ctx.jobId, data }) }, { concurrency: 1 })
      await queue.enqueue('later.run', { v: 1 }, { jobId: 'late', delayMs: 200 })
      await queue.enqueue('later.run', { v: 2 }, { jobId: 'late', delayMs: 200 })
      await queue.enqueue('later.run', {}, { jobId: 'late_sentinel', delayMs: 700 })
      await waitFor(() => seen.some((s) => s.id === 'late_sentinel'), { what: 'delayed sentinel' })
      expect(seen).toEqual([
        { id: 'late', data: { v: 1 } },
        { id: 'late_sentinel', data: {} },
      ])
    })

    it('delivers a jobId again when it is re-enqueued after the first job completed', async () => {
      const { queue } = await startQueue()
      const runs: number[] = []
      await startWorkers(queue, { 'again.run': async (data) => void runs.push(data.n as number) })
      await queue.enqueue('again.run', { n: 1 }, { jobId: 'again' })
      await waitFor(() => runs.includes(1), { what: 'first delivery' })
      // While the first job is still being finalised the id exists and the enqueue is a no-op, hence the polling.
      await waitFor(
        async () => {
          await queue.enqueue('again.run', { n: 2 }, { jobId: 'again' })
          return runs.includes(2)
        },
        { what: 'second delivery' },
      )
      expect(runs.filter((n) => n === 1)).toHaveLength(1)
    })

    it('never runs more jobs at once than the concurrency', async () => {
      const { queue } = await startQueue()
      const total = 8
      const concurrency = 3
      let current = 0
      let max = 0
      let started = 0
      const gates: Deferred[] = []
      const host = await startWorkers(
        queue,
        {
          'slow.run': async () => {
            started++
            current++
            max = Math.max(max, current)
            const gate = deferred()
            gates.push(gate)
            await gate.promise
            current--
          },
        },
        { concurrency },
      )
      for (let i = 0; i < total; i++) await queue.enqueue('slow.run', {}, { jobId: `slow_${i}` })
      await waitFor(() => current === concurrency, { what: 'concurrency reached' })
      expect(host.active()).toBe(concurrency)
      for (let done = 0; done < total; done++) {
        await waitFor(() => gates.length > done, { what: `job ${done} started` })
        gates[done]?.resolve()
        await waitFor(() => started >= Math.min(total, done + 1 + concurrency), { what: 'next job started' })
        expect(current).toBeLessThanOrEqual(concurrency)
      }
      await waitFor(() => current === 0 && host.active() === 0, { what: 'all done' })
      expect(started).toBe(total)
      expect(max).toBe(concurrency)
    })

    it('runs every() repeatedly with its data and the scheduled tick time, and an upsert does not double it', async () => {
      const { queue } = await startQueue()
      const ticks: Array<Record<string, unknown>> = []
      await startWorkers(queue, { 'tick.run': async (data) => void ticks.push(data) })
      await queue.every('ticker', 'tick.run', 150, { k: 'v' })
      await queue.every('ticker', 'tick.run', 150, { k: 'v' })
      await waitFor(() => ticks.length >= 4, { what: '4 ticks' })

      for (const tick of ticks) {
        expect(tick.k).toBe('v')
        expect(typeof tick.tickAt).toBe('string')
        expect(new Date(tick.tickAt as string).toISOString()).toBe(tick.tickAt)
      }
      const times = ticks.map((t) => Date.parse(t.tickAt as string))
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] as number) - (times[i - 1] as number)
        // Scheduled times on the every() grid: later than the previous tick by a whole number of intervals.
        expect(gap).toBeGreaterThan(0)
        expect(gap % 150).toBe(0)
      }
    })

    it("schedules a cron scheduler's first iteration at the fire time cron-parser gives, read in the scheduler's time zone", async () => {
      const { queue } = await startQueue()
      // A tick must never run before its time (a far one — weeks ahead — included).
      const early: string[] = []
      let marked = false
      await startWorkers(queue, {
        'cron.noop': async (data) => {
          if (Date.now() < Date.parse(data.tickAt as string) - 50) early.push(data.tickAt as string)
        },
        'cron.marker': async () => void (marked = true),
      })
      const cases = [
        { id: 'c_weekday', pattern: '0 9 * * 1-5', tz: 'America/New_York' },
        { id: 'c_tokyo', pattern: '0 9 * * *', tz: 'Asia/Tokyo' },
        { id: 'c_utc', pattern: '0 9 * * *', tz: undefined },
        { id: 'c_dst', pattern: '30 2 * * *', tz: 'Europe/Berlin' },
        { id: 'c_month', pattern: '0 0 1 * *', tz: 'Australia/Adelaide' },
        { id: 'c_quarter', pattern: '*/15 * * * *', tz: 'Asia/Kolkata' },
        { id: 'c_seconds', pattern: '15 */5 * * * *', tz: 'UTC' },
      ]
      const expected = new Map<string, number[]>()
      for (const { id, pattern, tz } of cases) {
        const before = Date.now()
        await queue.cron(id, 'cron.noop', pattern, tz === undefined ? {} : { tz })
        const after = Date.now()
        // The adapter reads the clock somewhere in between; a fire boundary may fall inside that window.
        expected.set(id, [nextCronFire(pattern, before, tz), nextCronFire(pattern, after, tz)] as number[])
      }
      const schedulers = await queue.schedulers()
      expect(schedulers.map((s) => s.id)).toEqual(cases.map((c) => c.id).sort())
      for (const { id, pattern, tz } of cases) {
        const info = schedulers.find((s) => s.id === id)!
        expect(info).toMatchObject({ name: 'cron.noop', pattern, ...(tz === undefined ? {} : { tz }) })
        expect(expected.get(id), `${id}: ${pattern} in ${tz ?? 'UTC'}`).toContain(info.next)
      }
      // The zone is applied: 09:00 in Tokyo is not 09:00 UTC.
      const next = (id: string) => schedulers.find((s) => s.id === id)!.next!
      expect(new Date(next('c_tokyo')).getUTCHours()).toBe(0)
      expect(new Date(next('c_utc')).getUTCHours()).toBe(9)
      // A delayed marker: a tick wrongly due at once would run before it.
      await queue.enqueue('cron.marker', {}, { jobId: 'cron_marker', delayMs: 300 })
      await waitFor(() => marked, { what: 'the marker job' })
      expect(early).toEqual([])
    })

    it('fires an every-second cron scheduler on whole seconds, with its data and the scheduled tick time', async () => {
      const { queue } = await startQueue()
      const ticks: Array<Record<string, unknown>> = []
      await startWorkers(queue, { 'cron.tick': async (data) => void ticks.push(data) })
      await queue.cron('every_second', 'cron.tick', '* * * * * *', { data: { k: 'v' } })
      await queue.cron('every_second', 'cron.tick', '* * * * * *', { data: { k: 'v' } })
      await waitFor(() => ticks.length >= 3, { what: '3 cron ticks', timeoutMs: 10_000 })
      const times = ticks.map((t) => Date.parse(t.tickAt as string))
      for (const [i, tick] of ticks.entries()) {
        expect(tick.k).toBe('v')
        expect(new Date(tick.tickAt as string).toISOString()).toBe(tick.tickAt)
        expect((times[i] as number) % 1_000).toBe(0)
        // Each tick is a fire time of the pattern after the previous one (an upsert does not add a second chain).
        if (i > 0) expect(times[i]).toBeGreaterThanOrEqual(nextCronFire('* * * * * *', times[i - 1] as number) as number)
      }
      expect(new Set(times).size).toBe(times.length)
    })

    it('replaces a scheduler on upsert, and removeScheduler() stops it (at most a tick already due still runs)', async () => {
      const { queue } = await startQueue()
      const ticks: string[] = []
      let markers = 0
      await startWorkers(queue, {
        'swap.tick': async (data) => void ticks.push(data.tickAt as string),
        'swap.marker': async () => void markers++,
      })
      await queue.every('swap', 'swap.tick', 60_000)
      await queue.cron('swap', 'swap.tick', '* * * * * *')
      let [info] = await queue.schedulers()
      expect(info).toMatchObject({ id: 'swap', name: 'swap.tick', pattern: '* * * * * *' })
      expect(info?.every).toBeUndefined()
      await waitFor(() => ticks.length >= 2, { what: '2 ticks', timeoutMs: 10_000 })

      expect(await queue.removeScheduler('swap')).toBe(true)
      expect(await queue.removeScheduler('swap')).toBe(false)
      expect(await queue.schedulers()).toEqual([])
      const atRemoval = ticks.length
      // Two and a half scheduler periods later, measured by a delayed job rather than a sleep.
      await queue.enqueue('swap.marker', {}, { jobId: 'swap_marker', delayMs: 2_500 })
      await waitFor(() => markers === 1, { what: 'the marker job', timeoutMs: 10_000 })
      expect(ticks.length - atRemoval).toBeLessThanOrEqual(1)

      await queue.every('swap', 'swap.tick', 60_000)
      ;[info] = await queue.schedulers()
      expect(info).toMatchObject({ id: 'swap', every: 60_000 })
      expect(info?.pattern).toBeUndefined()
    })

    it('rejects a cron pattern or time zone cron-parser refuses, and cron before start()', async () => {
      const early = factory({ log: captureLog().log })
      cleanups.push(() => early.close())
      await expect(early.cron('early', 'x.run', '* * * * *')).rejects.toThrow(/before start/)
      await expect(early.removeScheduler('early')).rejects.toThrow(/before start/)
      const { queue } = await startQueue()
      await expect(queue.cron('bad', 'x.run', 'every minute')).rejects.toThrow(/invalid pattern 'every minute'/)
      await expect(queue.cron('bad', 'x.run', '61 * * * *')).rejects.toThrow(/invalid pattern/)
      await expect(queue.cron('bad', 'x.run', '0 0 30 2 *')).rejects.toThrow(/invalid pattern/)
      await expect(queue.cron('bad', 'x.run', '* * * * *', { tz: 'Mars/Olympus' })).rejects.toThrow(/not an IANA time zone/)
      await expect(queue.cron('a:b', 'x.run', '* * * * *')).rejects.toThrow(/contains ':'/)
      expect(await queue.schedulers()).toEqual([])
    })

    it('close(grace) waits for an active job that finishes within the grace period', async () => {
      const { queue } = await startQueue()
      const order: string[] = []
      const gate = deferred()
      let signal: AbortSignal | undefined
      const host = await startWorkers(queue, {
        'grace.run': async (_data, ctx) => {
          signal = ctx.signal
          order.push('started')
          await gate.promise
          order.push('finished')
        },
      })
      await queue.enqueue('grace.run', {}, { jobId: 'grace_1' })
      await waitFor(() => order.includes('started'), { what: 'job started' })
      const closing = host.close(10_000).then(() => void order.push('closed'))
      gate.resolve()
      await closing
      expect(order).toEqual(['started', 'finished', 'closed'])
      expect(signal?.aborted).toBe(false)
      expect(host.active()).toBe(0)
    })

    it('close(grace) aborts the signal of a job that outlives the grace period, then completes', async () => {
      const { queue } = await startQueue()
      const order: string[] = []
      let signal: AbortSignal | undefined
      const host = await startWorkers(queue, {
        'stuck.run': async (_data, ctx) => {
          signal = ctx.signal
          order.push('started')
          await aborted(ctx.signal)
          order.push('aborted')
          throw ctx.signal.reason
        },
      })
      await queue.enqueue('stuck.run', {}, { jobId: 'stuck_1' })
      await waitFor(() => order.includes('started'), { what: 'job started' })
      await host.close(200)
      expect(signal?.aborted).toBe(true)
      expect(order).toEqual(['started', 'aborted'])
      expect(host.active()).toBe(0)
    })

    it('close(grace) completes even when a handler ignores the abort', async () => {
      const { queue } = await startQueue()
      const gate = deferred()
      cleanups.push(() => gate.resolve())
      let signal: AbortSignal | undefined
      const host = await startWorkers(queue, {
        'deaf.run': async (_data, ctx) => {
          signal = ctx.signal
          await gate.promise
        },
      })
      await queue.enqueue('deaf.run', {}, { jobId: 'deaf_1' })
      await waitFor(() => signal, { what: 'job started' })
      await host.close(100)
      expect(signal?.aborted).toBe(true)
    })

    it('keeps working after a handler throws or a job has no handler, and logs both', async () => {
      const { queue, entries } = await startQueue()
      const ok: string[] = []
      await startWorkers(
        queue,
        {
          'boom.run': async () => {
            throw new Error('kaboom')
          },
          'ok.run': async (_d, ctx) => void ok.push(ctx.jobId),
        },
        { concurrency: 1 },
      )
      await queue.enqueue('boom.run', {}, { jobId: 'boom_1' })
      await queue.enqueue('nobody.home', {}, { jobId: 'orphan_1' })
      await queue.enqueue('ok.run', {}, { jobId: 'ok_1' })
      await waitFor(() => ok.includes('ok_1'), { what: 'ok_1 delivered' })
      await waitFor(
        () =>
          entries.some((e) => e.level === 'error' && e.obj.jobId === 'boom_1') &&
          entries.some((e) => e.level === 'error' && e.obj.jobId === 'orphan_1' && e.msg.includes("no handler for job 'nobody.home'")),
        { what: 'error logs' },
      )
      await queue.enqueue('boom.run', {}, { jobId: 'boom_2' })
      await queue.enqueue('ok.run', {}, { jobId: 'ok_2' })
      await waitFor(() => ok.includes('ok_2'), { what: 'ok_2 delivered' })
    })

    it('does not give new jobs to a closed worker host', async () => {
      const { queue } = await startQueue()
      const seen: string[] = []
      const first = await startWorkers(queue, { 'handoff.run': async (_d, ctx) => void seen.push(`${ctx.workerId}/${ctx.jobId}`) }, { workerId: 'first' })
      await first.close(1_000)
      await queue.enqueue('handoff.run', {}, { jobId: 'handoff_1' })
      await startWorkers(queue, { 'handoff.run': async (_d, ctx) => void seen.push(`${ctx.workerId}/${ctx.jobId}`) }, { workerId: 'second' })
      await waitFor(() => seen.length > 0, { what: 'delivery' })
      expect(seen).toEqual(['second/handoff_1'])
    })

    it('refuses to start workers without handlers or with a bad concurrency', async () => {
      const { queue } = await startQueue()
      await expect(queue.startWorkers({ handlers: {}, concurrency: 1, workerId: 'w' })).rejects.toThrow(/handler map is empty/)
      await expect(queue.startWorkers({ handlers: { 'x.run': async () => {} }, concurrency: 0, workerId: 'w' })).rejects.toThrow(/concurrency/)
    })

    it("rejects ids BullMQ would refuse or mishandle (':', an integer, a queue key name), in every mode", async () => {
      const { queue } = await startQueue()
      await expect(queue.enqueue('x.run', {}, { jobId: 'run:1' })).rejects.toThrow(/contains ':'/)
      await expect(queue.enqueue('x.run', {}, { jobId: '42' })).rejects.toThrow(/integer/)
      await expect(queue.enqueue('x.run', {}, { jobId: 'delayed' })).rejects.toThrow(/queue keys/)
      await expect(queue.enqueue('x.run', {}, { jobId: 'meta' })).rejects.toThrow(/queue keys/)
      await expect(queue.enqueue('x.run', {}, { jobId: '' })).rejects.toThrow(/non-empty/)
      await expect(queue.every('a:b', 'x.run', 1_000)).rejects.toThrow(/contains ':'/)
    })

    it('rejects enqueue, every and startWorkers before start()', async () => {
      const { log } = captureLog()
      const queue = factory({ log })
      cleanups.push(() => queue.close())
      await expect(queue.enqueue('x.run', {}, { jobId: 'early' })).rejects.toThrow(/before start/)
      await expect(queue.every('early', 'x.run', 1_000)).rejects.toThrow(/before start/)
      await expect(queue.startWorkers({ handlers: { 'x.run': async () => {} }, concurrency: 1, workerId: 'w' })).rejects.toThrow(/before start/)
    })
  })
}

export function defineEventBusContractTests(name: string, factory: EventBusFactory): void {
  describe(`EventBus contract: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    })

    async function startBus(): Promise<{ bus: CountingEventBus; entries: LogEntry[] }> {
      const { log, entries } = captureLog()
      const bus = factory({ log })
      cleanups.push(() => bus.close())
      await bus.start()
      return { bus, entries }
    }

    it('delivers a published message to a subscriber (subscribe resolves once the subscription is live)', async () => {
      const { bus } = await startBus()
      const got: string[] = []
      await bus.subscribe('run_1', (m) => got.push(m))
      await bus.publish('run_1', 'hello')
      await waitFor(() => got.length === 1, { what: 'message' })
      expect(got).toEqual(['hello'])
    })

    it('never runs subscriber code inside publish()', async () => {
      const { bus } = await startBus()
      const got: string[] = []
      await bus.subscribe('sync_check', (m) => got.push(m))
      const publishing = bus.publish('sync_check', 'm')
      expect(got).toEqual([])
      await publishing
      await waitFor(() => got.length === 1, { what: 'message' })
    })

    it('delivers to every subscriber of a channel, sharing one channel', async () => {
      const { bus } = await startBus()
      const a: string[] = []
      const b: string[] = []
      await bus.subscribe('shared', (m) => a.push(m))
      await bus.subscribe('shared', (m) => b.push(m))
      expect(bus.channelCount()).toBe(1)
      await bus.publish('shared', 'both')
      await waitFor(() => a.length === 1 && b.length === 1, { what: 'both subscribers' })
      expect([a, b]).toEqual([['both'], ['both']])
    })

    it('stops delivering after unsubscribe and releases the channel with the last subscriber', async () => {
      const { bus } = await startBus()
      const a: string[] = []
      const b: string[] = []
      const marker: string[] = []
      const unsubscribeA = await bus.subscribe('leave', (m) => a.push(m))
      const unsubscribeB = await bus.subscribe('leave', (m) => b.push(m))
      const unsubscribeMarker = await bus.subscribe('marker', (m) => marker.push(m))
      expect(bus.channelCount()).toBe(2)

      await unsubscribeA()
      expect(bus.channelCount()).toBe(2)
      await bus.publish('leave', 'one')
      await waitFor(() => b.length === 1, { what: 'b got one' })
      expect(a).toEqual([])

      await unsubscribeB()
      await unsubscribeB() // idempotent
      expect(bus.channelCount()).toBe(1)
      await bus.publish('leave', 'two')
      await bus.publish('marker', 'after two')
      // Messages arrive in publish order, so once the marker is here 'two' would have been too.
      await waitFor(() => marker.length === 1, { what: 'marker' })
      expect(a).toEqual([])
      expect(b).toEqual(['one'])

      await unsubscribeMarker()
      expect(bus.channelCount()).toBe(0)
    })

    it('delivers messages in publish order', async () => {
      const { bus } = await startBus()
      const got: string[] = []
      await bus.subscribe('ordered', (m) => got.push(m))
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`)
      await Promise.all(sent.map((m) => bus.publish('ordered', m)))
      await waitFor(() => got.length === sent.length, { what: '100 messages' })
      expect(got).toEqual(sent)
    })

    it('keeps channels apart and survives a subscriber that throws', async () => {
      const { bus, entries } = await startBus()
      const good: string[] = []
      const other: string[] = []
      await bus.subscribe('noisy', () => {
        throw new Error('subscriber bug')
      })
      await bus.subscribe('noisy', (m) => good.push(m))
      await bus.subscribe('other', (m) => other.push(m))
      await bus.publish('noisy', 'x')
      await bus.publish('noisy', 'y')
      await bus.publish('other', 'done')
      await waitFor(() => other.length === 1, { what: 'other channel' })
      expect(good).toEqual(['x', 'y'])
      expect(other).toEqual(['done'])
      expect(entries.some((e) => e.level === 'error' && e.msg.includes('subscriber threw'))).toBe(true)
    })

    it('rejects publish and subscribe before start()', async () => {
      const { log } = captureLog()
      const bus = factory({ log })
      cleanups.push(() => bus.close())
      await expect(bus.publish('c', 'm')).rejects.toThrow(/before start/)
      await expect(bus.subscribe('c', () => {})).rejects.toThrow(/before start/)
    })
  })
}
