/**
 * Embedded-mode job queue: one process, no Redis. A FIFO with the same observable rules as the BullMQ adapter (id
 * rules, dedupe while waiting/delayed/active, concurrency, job-scheduler ticks, close semantics). Delivery is at most
 * once per enqueue and nothing survives the process: durability comes from the Postgres rows and the app's reconciler.
 */
import { silentLogger, type Logger } from '@openvesper/shared'
import {
  ABORT_SETTLE_MS,
  DEFAULT_GRACE_MS,
  assertCron,
  assertDelayMs,
  assertEveryMs,
  assertId,
  assertJobName,
  assertWorkerOptions,
  createActiveJobs,
  createLifecycle,
  handlerFor,
  nextCronFire,
  settlesWithin,
  type ActiveJobs,
} from './internal.js'
import type { JobHandler, JobQueue, SchedulerInfo, WorkerHost } from './types.js'

export interface InProcessQueueOptions {
  log?: Logger
}

export interface InProcessJobQueue extends JobQueue {
  readonly kind: 'inprocess'
}

interface QueuedJob {
  id: string
  name: string
  data: Record<string, unknown>
  /** Set on job-scheduler iterations: the scheduler and the tick's scheduled time. */
  tick?: { schedulerId: string; millis: number }
}

interface Host {
  workerId: string
  handlers: Record<string, JobHandler>
  concurrency: number
  jobs: ActiveJobs
  closing: boolean
}

/** When a scheduler fires: a fixed interval, or a cron pattern read in a time zone. */
type Rule = { kind: 'every'; everyMs: number } | { kind: 'cron'; pattern: string; tz: string | undefined }

/** BullMQ's model: one pending iteration per scheduler; the next is planned when the current one starts. */
interface Scheduler {
  name: string
  rule: Rule
  data: Record<string, unknown>
  /** Scheduled time of the pending iteration (undefined once a cron pattern has no later fire). */
  millis: number | undefined
  /** Set while the pending iteration waits for its time. */
  timer?: Timer
  /** Set while the pending iteration waits for a worker. */
  queued?: QueuedJob
}

export function createInProcessQueue(options: InProcessQueueOptions = {}): InProcessJobQueue {
  const log = options.log ?? silentLogger
  const lifecycle = createLifecycle('job queue', 'queue')
  const waiting: QueuedJob[] = []
  /** Ids waiting, delayed or active: enqueueing one of them again is a no-op. */
  const present = new Set<string>()
  const delayTimers = new Set<Timer>()
  const schedulers = new Map<string, Scheduler>()
  const hosts = new Set<Host>()
  const openHosts = new Set<WorkerHost>()

  function push(job: QueuedJob): void {
    waiting.push(job)
    pump()
  }

  /** Hands waiting jobs to hosts with a free slot, oldest job first, least busy host first. */
  function pump(): void {
    while (lifecycle.started && waiting.length > 0) {
      let target: Host | undefined
      for (const host of hosts) {
        if (host.closing || host.jobs.count() >= host.concurrency) continue
        if (!target || host.jobs.count() < target.jobs.count()) target = host
      }
      if (!target) return
      dispatch(target, waiting.shift() as QueuedJob)
    }
  }

  function dispatch(host: Host, job: QueuedJob): void {
    if (job.tick) planNextIteration(job.tick.schedulerId, job)
    const data = job.tick ? { ...job.data, tickAt: new Date(job.tick.millis).toISOString() } : job.data
    // jobs.run counts the job as active at once; the handler itself starts on a later microtask, never inside the
    // caller's stack (enqueue or another job's completion).
    host.jobs
      .run(async (signal) => {
        await Promise.resolve()
        const handler = handlerFor(host.handlers, job.name)
        if (!handler) {
          const known = Object.keys(host.handlers)
          log.error({ jobId: job.id, name: job.name, workerId: host.workerId, known }, `no handler for job '${job.name}'; failing the job`)
          return
        }
        try {
          await handler(data, { jobId: job.id, workerId: host.workerId, signal })
        } catch (err) {
          log.error({ err, jobId: job.id, name: job.name, workerId: host.workerId }, `job '${job.name}' failed`)
        }
      })
      .finally(() => {
        present.delete(job.id)
        pump()
      })
  }

  function planNextIteration(schedulerId: string, started: QueuedJob): void {
    const scheduler = schedulers.get(schedulerId)
    if (!scheduler || scheduler.queued !== started || !started.tick) return
    scheduler.queued = undefined
    const prev = started.tick.millis
    const now = Date.now()
    const { rule } = scheduler
    // BullMQ plans a cron scheduler's next iteration from max(now, previous tick), an `every` one on its grid.
    const next = rule.kind === 'every' ? nextMillis(prev, rule.everyMs, now) : nextCronFire(rule.pattern, Math.max(now, prev), rule.tz)
    if (next === undefined) {
      scheduler.millis = undefined
      log.warn({ schedulerId }, `job scheduler '${schedulerId}': its cron pattern has no later fire time; it stops`)
      return
    }
    planIteration(schedulerId, scheduler, next)
  }

  /** Drops the scheduler's pending iteration: its timer, or its waiting job (an active one runs to its end). */
  function dropPending(scheduler: Scheduler): void {
    scheduler.timer?.clear()
    scheduler.timer = undefined
    if (scheduler.queued) {
      const index = waiting.indexOf(scheduler.queued)
      if (index >= 0) waiting.splice(index, 1)
      present.delete(scheduler.queued.id)
      scheduler.queued = undefined
    }
  }

  /** Registers (or replaces) a scheduler whose first iteration is at `millis`. */
  function upsert(schedulerId: string, scheduler: Scheduler, millis: number): void {
    const existing = schedulers.get(schedulerId)
    if (existing) dropPending(existing)
    schedulers.set(schedulerId, scheduler)
    planIteration(schedulerId, scheduler, millis)
  }

  function planIteration(schedulerId: string, scheduler: Scheduler, millis: number): void {
    scheduler.millis = millis
    scheduler.timer = startTimer(millis, () => {
      scheduler.timer = undefined
      if (!lifecycle.started || schedulers.get(schedulerId) !== scheduler) return
      const id = `repeat:${schedulerId}:${millis}`
      const job: QueuedJob = { id, name: scheduler.name, data: scheduler.data, tick: { schedulerId, millis } }
      scheduler.queued = job
      present.add(id)
      push(job)
    })
  }

  return {
    kind: 'inprocess',

    async start() {
      await lifecycle.start()
      log.info('job queue: in-process (embedded mode; durability comes from Postgres and the reconciler)')
    },

    async enqueue(name, data, enqueueOptions) {
      assertJobName(name)
      assertId('jobId', enqueueOptions.jobId)
      assertDelayMs(enqueueOptions.delayMs)
      const delay = enqueueOptions.delayMs
      lifecycle.assertStarted('enqueue')
      const { jobId } = enqueueOptions
      if (present.has(jobId)) return
      present.add(jobId)
      const job: QueuedJob = { id: jobId, name, data: asJson(data) }
      if (!delay) return push(job)
      const timer = startTimer(Date.now() + delay, () => {
        delayTimers.delete(timer)
        push(job)
      })
      delayTimers.add(timer)
    },

    async every(schedulerId, name, everyMs, data = {}) {
      assertId('schedulerId', schedulerId)
      assertJobName(name)
      assertEveryMs(everyMs)
      lifecycle.assertStarted('every')
      const existing = schedulers.get(schedulerId)
      if (existing && existing.rule.kind === 'every' && existing.rule.everyMs === everyMs) {
        // Same interval: keep the pending iteration's time, take the new template (as BullMQ's upsert does).
        existing.name = name
        existing.data = asJson(data)
        if (existing.queued) Object.assign(existing.queued, { name, data: existing.data })
        return
      }
      upsert(schedulerId, { name, rule: { kind: 'every', everyMs }, data: asJson(data), millis: undefined }, Date.now())
    },

    async cron(schedulerId, name, pattern, cronOptions = {}) {
      assertId('schedulerId', schedulerId)
      assertJobName(name)
      const { tz, data = {} } = cronOptions
      assertCron(pattern, tz)
      lifecycle.assertStarted('cron')
      // As BullMQ's upsert: the pending iteration (delayed or waiting) is replaced by one at the next fire after now.
      const first = nextCronFire(pattern, Date.now(), tz) as number
      upsert(schedulerId, { name, rule: { kind: 'cron', pattern, tz }, data: asJson(data), millis: undefined }, first)
    },

    async removeScheduler(schedulerId) {
      assertId('schedulerId', schedulerId)
      lifecycle.assertStarted('removeScheduler')
      const scheduler = schedulers.get(schedulerId)
      if (!scheduler) return false
      // As BullMQ: the delayed iteration goes; one already waiting for a worker still runs, and plans no next.
      scheduler.timer?.clear()
      scheduler.timer = undefined
      schedulers.delete(schedulerId)
      return true
    },

    async schedulers() {
      lifecycle.assertStarted('schedulers')
      return [...schedulers.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(
          ([id, { name, rule, millis }]): SchedulerInfo => ({
            id,
            name,
            next: millis,
            ...(rule.kind === 'every' ? { every: rule.everyMs } : { pattern: rule.pattern, ...(rule.tz === undefined ? {} : { tz: rule.tz }) }),
          }),
        )
    },

    async startWorkers(hostOptions) {
      assertWorkerOptions(hostOptions)
      lifecycle.assertStarted('startWorkers')
      const host: Host = {
        workerId: hostOptions.workerId,
        handlers: { ...hostOptions.handlers },
        concurrency: hostOptions.concurrency,
        jobs: createActiveJobs(),
        closing: false,
      }
      hosts.add(host)
      const hostLog = log.child({ workerId: host.workerId })
      hostLog.info({ concurrency: host.concurrency, jobs: Object.keys(host.handlers) }, 'job worker started')
      let closing: Promise<void> | undefined
      const workerHost: WorkerHost = {
        workerId: host.workerId,
        active: () => host.jobs.count(),
        close(graceMs = DEFAULT_GRACE_MS) {
          closing ??= (async () => {
            host.closing = true
            if (!(await settlesWithin(host.jobs.idle(), graceMs))) {
              hostLog.warn({ active: host.jobs.count(), graceMs }, 'job worker: grace period over; aborting active jobs')
              host.jobs.abortAll(new Error(`worker host '${host.workerId}' is shutting down`))
              if (!(await settlesWithin(host.jobs.idle(), ABORT_SETTLE_MS))) {
                hostLog.warn({ active: host.jobs.count() }, 'job worker: handlers ignored the abort; leaving them behind')
              }
            }
            hosts.delete(host)
            openHosts.delete(workerHost)
            hostLog.info('job worker closed')
          })()
          return closing
        },
      }
      openHosts.add(workerHost)
      pump()
      return workerHost
    },

    async close() {
      if (lifecycle.closed) return
      await Promise.all([...openHosts].map((host) => host.close()))
      lifecycle.close()
      for (const timer of delayTimers) timer.clear()
      delayTimers.clear()
      for (const scheduler of schedulers.values()) scheduler.timer?.clear()
      schedulers.clear()
      if (waiting.length > 0) {
        log.warn({ dropped: waiting.length }, 'job queue: closed with jobs still waiting (the reconciler re-enqueues them)')
      }
      waiting.length = 0
      present.clear()
    },
  }
}

interface Timer {
  clear(): void
}

/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

/** Runs `fn` at `atMillis` (at once when it is past), however far ahead: long waits are chained timeouts. */
function startTimer(atMillis: number, fn: () => void): Timer {
  let handle: NodeJS.Timeout
  const arm = () => {
    const wait = atMillis - Date.now()
    handle = wait > MAX_TIMEOUT_MS ? setTimeout(arm, MAX_TIMEOUT_MS) : setTimeout(fn, Math.max(0, wait))
  }
  arm()
  return { clear: () => clearTimeout(handle) }
}

/** Payloads go through JSON like BullMQ's (Dates become strings, undefined fields vanish), so handlers see the same. */
function asJson(data: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(data)) as Record<string, unknown>
}

/**
 * BullMQ's `every` rule: previous tick + interval; when that is already past (ticks were missed), the next slot on
 * the same grid (the first tick's offset within the interval is kept). Missed ticks are skipped, not replayed.
 */
function nextMillis(prevMillis: number, everyMs: number, now: number): number {
  const next = prevMillis + everyMs
  if (next >= now) return next
  const aligned = Math.floor(now / everyMs) * everyMs + (prevMillis % everyMs)
  return aligned <= now ? aligned + everyMs : aligned
}
