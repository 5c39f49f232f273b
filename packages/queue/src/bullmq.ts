/**
 * Server-mode job queue: BullMQ on Redis. Producers fail fast when Redis is down (an HTTP request gets a 503, it
 * never hangs); workers use their own connections that retry forever and resume consuming once Redis is back.
 *
 * Delivery: at most one worker runs a job at a time; jobs are removed once finished (so the same id can be enqueued
 * again), and `attempts: 1` — recovery belongs to the app's reconciler, which fences on Postgres. A job whose worker
 * dies mid-run is re-delivered once by BullMQ's stalled-job check (after the 30 s lock expires), so handlers must be
 * idempotent.
 */
import { createCoalescer, silentLogger, type Logger } from '@openvesper/shared'
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
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
  describeRedisUrl,
  handlerFor,
  normalizePrefix,
  reachRedis,
  reconnectDelay,
  redisUnavailable,
  settlesWithin,
  watchConnection,
} from './internal.js'
import type { JobQueue, SchedulerInfo, WorkerHost, WorkerHostOptions } from './types.js'

export interface BullmqQueueOptions {
  redisUrl: string
  /** BullMQ key prefix; every key of this queue lives under `<prefix>:<queueName>:`. */
  prefix: string
  queueName?: string
  log?: Logger
}

export interface BullmqJobQueue extends JobQueue {
  readonly kind: 'bullmq'
  readonly queueName: string
}

/** Producer connection: no offline queue and a command timeout, so a Redis outage is an error within ~2 s. */
const PRODUCER_REDIS_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 1_500,
  retryStrategy: reconnectDelay,
}

/** Worker connections: BullMQ requires `maxRetriesPerRequest: null`; they wait out outages and reconnect forever. */
const WORKER_REDIS_OPTIONS: RedisOptions = {
  lazyConnect: true,
  maxRetriesPerRequest: null,
  connectTimeout: 5_000,
  retryStrategy: reconnectDelay,
}

/** How long a worker waits before fetching again after a Redis error (BullMQ's default is 15 s). */
const WORKER_RUN_RETRY_DELAY_MS = 2_000

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true, attempts: 1 } as const

export function createBullmqQueue(options: BullmqQueueOptions): BullmqJobQueue {
  const { redisUrl } = options
  const prefix = normalizePrefix(options.prefix)
  const queueName = options.queueName ?? 'jobs'
  if (queueName.length === 0 || queueName.includes(':')) {
    throw new Error(`queue name '${queueName}' must be non-empty and without ':'`)
  }
  const log = (options.log ?? silentLogger).child({ queue: queueName })
  const where = describeRedisUrl(redisUrl)

  const lifecycle = createLifecycle('job queue', 'queue')
  let producer: Redis | undefined
  let queue: Queue | undefined
  const hosts = new Set<WorkerHost>()

  function started(operation: string): Queue {
    lifecycle.assertStarted(operation)
    return queue!
  }

  const unavailable = redisUnavailable('job queue', where)

  // Jobs enqueued at the same moment (concurrent requests) are added in one round trip.
  const add = createCoalescer<{ name: string; data: Record<string, unknown>; jobId: string; delay?: number }, void>(async (jobs) => {
    await started('enqueue').addBulk(jobs.map(({ name, data, jobId, delay }) => ({ name, data, opts: { ...JOB_OPTIONS, jobId, ...(delay ? { delay } : {}) } })))
    return jobs.map(() => undefined)
  })

  return {
    kind: 'bullmq',
    queueName,

    async start() {
      await lifecycle.start(async () => {
        const conn = new Redis(redisUrl, { ...PRODUCER_REDIS_OPTIONS, connectionName: `${prefix}:${queueName}:producer` })
        watchConnection(conn, log, 'job queue producer')
        let q: Queue | undefined
        const connect = async () => {
          await conn.connect()
          // Made once the connection is ready: BullMQ would otherwise connect the shared client itself.
          q = new Queue(queueName, { connection: conn, prefix, defaultJobOptions: { ...JOB_OPTIONS } })
          q.on('error', (err) => log.debug({ err: err.message }, 'job queue: BullMQ queue error'))
          await q.waitUntilReady()
        }
        const release = async () => {
          if (q) await settlesWithin(q.close(), 1_000)
          conn.disconnect()
        }
        await reachRedis('job queue', where, connect, release)
        producer = conn
        queue = q
      })
      log.info({ redis: where, prefix }, 'job queue: BullMQ on Redis')
    },

    async enqueue(name, data, enqueueOptions) {
      assertJobName(name)
      assertId('jobId', enqueueOptions.jobId)
      assertDelayMs(enqueueOptions.delayMs)
      started('enqueue')
      try {
        await add({ name, data, jobId: enqueueOptions.jobId, delay: enqueueOptions.delayMs })
      } catch (err) {
        throw unavailable('enqueue', err)
      }
    },

    async every(schedulerId, name, everyMs, data = {}) {
      assertId('schedulerId', schedulerId)
      assertJobName(name)
      assertEveryMs(everyMs)
      const q = started('every')
      try {
        await q.upsertJobScheduler(schedulerId, { every: everyMs }, { name, data, opts: { ...JOB_OPTIONS } })
      } catch (err) {
        throw unavailable('every', err)
      }
    },

    async cron(schedulerId, name, pattern, cronOptions = {}) {
      assertId('schedulerId', schedulerId)
      assertJobName(name)
      const { tz, data = {} } = cronOptions
      assertCron(pattern, tz)
      const q = started('cron')
      try {
        await q.upsertJobScheduler(schedulerId, { pattern, ...(tz === undefined ? {} : { tz }) }, { name, data, opts: { ...JOB_OPTIONS } })
      } catch (err) {
        throw unavailable('cron', err)
      }
    },

    async removeScheduler(schedulerId) {
      assertId('schedulerId', schedulerId)
      const q = started('removeScheduler')
      try {
        return await q.removeJobScheduler(schedulerId)
      } catch (err) {
        throw unavailable('removeScheduler', err)
      }
    },

    async schedulers() {
      const q = started('schedulers')
      let found: Awaited<ReturnType<Queue['getJobSchedulers']>>
      try {
        found = await q.getJobSchedulers(0, -1, true)
      } catch (err) {
        throw unavailable('schedulers', err)
      }
      return found
        .map(
          (s): SchedulerInfo => ({
            id: s.key,
            name: s.name,
            next: s.next ?? undefined,
            ...(s.every === undefined ? {} : { every: s.every }),
            ...(s.pattern === undefined ? {} : { pattern: s.pattern }),
            ...(s.tz === undefined ? {} : { tz: s.tz }),
          }),
        )
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    },

    async startWorkers(hostOptions) {
      assertWorkerOptions(hostOptions)
      started('startWorkers')
      const host = await startBullmqWorkerHost({
        redisUrl,
        prefix,
        queueName,
        log,
        options: hostOptions,
        onClosed: (closed) => hosts.delete(closed),
      })
      hosts.add(host)
      return host
    },

    async close() {
      if (!lifecycle.close()) return
      await Promise.all([...hosts].map((host) => host.close()))
      hosts.clear()
      if (queue) await settlesWithin(queue.close(), 2_000)
      if (producer && !(await settlesWithin(producer.quit(), 1_000))) producer.disconnect()
      queue = undefined
      producer = undefined
    },
  }
}

async function startBullmqWorkerHost(deps: {
  redisUrl: string
  prefix: string
  queueName: string
  log: Logger
  options: WorkerHostOptions
  onClosed: (host: WorkerHost) => void
}): Promise<WorkerHost> {
  const { handlers, concurrency, workerId } = deps.options
  const log = deps.log.child({ workerId })
  const jobs = createActiveJobs()

  const processJob = async (job: Job): Promise<void> => {
    const jobId = job.id ?? ''
    const handler = handlerFor(handlers, job.name)
    if (!handler) {
      log.error({ jobId, name: job.name, known: Object.keys(handlers) }, `no handler for job '${job.name}'; failing the job`)
      throw new UnrecoverableError(`no handler registered for job '${job.name}' in worker host '${workerId}'`)
    }
    await jobs.run(async (signal) => {
      try {
        await handler(jobData(job), { jobId, workerId, signal })
      } catch (err) {
        log.error({ err, jobId, name: job.name }, `job '${job.name}' failed`)
        throw err
      }
    })
  }

  // BullMQ duplicates this (never connected) client for its own main and blocking connections.
  const connectionName = `${deps.prefix}:${deps.queueName}:w:${workerId}`
  const template = new Redis(deps.redisUrl, { ...WORKER_REDIS_OPTIONS, connectionName })
  const worker = new Worker(deps.queueName, processJob, {
    connection: template,
    prefix: deps.prefix,
    concurrency,
    name: workerId,
    autorun: false,
    runRetryDelay: WORKER_RUN_RETRY_DELAY_MS,
  })
  watchConnection(worker, log, 'job worker')
  await reachRedis(
    'job worker',
    describeRedisUrl(deps.redisUrl),
    () => worker.waitUntilReady(),
    async () => {
      await settlesWithin(worker.close(true), 1_000)
      template.disconnect()
    },
  )
  worker.run().catch((err: unknown) => log.error({ err }, 'job worker: main loop stopped with an error'))
  log.info({ concurrency, jobs: Object.keys(handlers) }, 'job worker started')

  let closing: Promise<void> | undefined
  const host: WorkerHost = {
    workerId,
    active: () => jobs.count(),
    close(graceMs = DEFAULT_GRACE_MS) {
      closing ??= (async () => {
        // worker.close() stops fetching at once, then waits for active jobs and closes BullMQ's connections.
        const closed = worker.close()
        closed.catch((err: unknown) => log.warn({ err }, 'job worker: close failed'))
        if (!(await settlesWithin(closed, graceMs))) {
          log.warn({ active: jobs.count(), graceMs }, 'job worker: grace period over; aborting active jobs')
          jobs.abortAll(new Error(`worker host '${workerId}' is shutting down`))
          if (!(await settlesWithin(closed, ABORT_SETTLE_MS))) {
            // Handlers ignored the signal: drop the connections. Their jobs stay active in Redis until the lock
            // expires; another worker's stalled check then moves them back to wait (or fails them).
            log.warn({ active: jobs.count() }, 'job worker: handlers ignored the abort; disconnecting')
            await settlesWithin(worker.disconnect(), ABORT_SETTLE_MS)
          }
        }
        template.disconnect()
        deps.onClosed(host)
        log.info('job worker closed')
      })()
      return closing
    },
  }
  return host
}

/** The job's payload, plus `tickAt` (the tick's scheduled time, not the wall clock) for job-scheduler iterations. */
function jobData(job: Job): Record<string, unknown> {
  const isRecord = job.data && typeof job.data === 'object' && !Array.isArray(job.data)
  const data: Record<string, unknown> = isRecord ? { ...job.data } : {}
  if (job.repeatJobKey) data.tickAt = new Date(tickMillis(job)).toISOString()
  return data
}

/**
 * A scheduler iteration's id is `repeat:<schedulerId>:<scheduled millis>` (BullMQ does not keep `prevMillis` in the
 * stored options); the creation timestamp plus the delay gives the same value.
 */
function tickMillis(job: Job): number {
  const fromId = /^repeat:.*:(\d+)$/.exec(job.id ?? '')?.[1]
  return fromId ? Number(fromId) : job.timestamp + (job.delay ?? 0)
}
