/**
 * Helpers shared by the adapters (not exported from the package): argument checks that must behave the same in
 * both modes, the active-job tracker behind `WorkerHost.active()`/`close()`, and Redis connection settings.
 */
import { AppError, type Logger } from '@openvesper/shared'
import { CronExpressionParser } from 'cron-parser'
import type { WorkerHostOptions } from './types.js'

/**
 * The life of an adapter — new, starting, started, closed — and the errors every adapter gives for using it out of
 * turn. `component` names it in messages ("job queue"), `handle` is what callers hold ("queue").
 */
export function createLifecycle(component: string, handle: string) {
  let state: 'new' | 'starting' | 'started' | 'closed' = 'new'
  return {
    get started(): boolean {
      return state === 'started'
    },
    get closed(): boolean {
      return state === 'closed'
    },
    /** Throws unless started: after close(), or before start(). */
    assertStarted(operation: string): void {
      if (state === 'closed') throw new Error(`${component}: ${operation} after close()`)
      if (state !== 'started') throw new Error(`${component}: ${operation} before start(); call ${handle}.start() first`)
    },
    /**
     * new → starting → started, running `connect` in between; a second start() throws. When `connect` fails the
     * adapter is new again (start() may be called again) and the error propagates.
     */
    async start(connect?: () => Promise<void>): Promise<void> {
      if (state !== 'new') throw new Error(`${component}: start() called twice (state: ${state})`)
      state = 'starting'
      try {
        await connect?.()
      } catch (err) {
        state = 'new'
        throw err
      }
      state = 'started'
    },
    /** → closed; false when it already was (close() is idempotent). */
    close(): boolean {
      if (state === 'closed') return false
      state = 'closed'
      return true
    },
  }
}

/**
 * Connects what a Redis adapter made at start: when `connect` fails, `release` frees it and the error names the
 * adapter and the server (`job queue: cannot reach Redis at 127.0.0.1:6379: …`).
 */
export async function reachRedis(component: string, where: string, connect: () => Promise<unknown>, release: () => unknown): Promise<void> {
  try {
    await connect()
  } catch (err) {
    await release()
    throw new Error(`${component}: cannot reach Redis at ${where}: ${errorMessage(err)}`, { cause: err })
  }
}

/** The `unavailable` error of a Redis adapter: fast, specific, with the cause kept. */
export const redisUnavailable = (component: string, where: string) => (operation: string, err: unknown) =>
  new AppError('unavailable', `${component} unavailable (${operation}, Redis at ${where}): ${errorMessage(err)}`, { cause: err })

/** Default `WorkerHost.close()` grace period. */
export const DEFAULT_GRACE_MS = 10_000
/** After the grace period, how long aborted handlers get to return before the host stops waiting for them. */
export const ABORT_SETTLE_MS = 1_000

/**
 * A job's Redis key is `<prefix>:<queue>:<jobId>`, next to the queue's own keys (`<prefix>:<queue>:delayed`, ...): a
 * job id equal to one of those names would overwrite that key and break the queue (BullMQ does not check this).
 */
const RESERVED_IDS = new Set([
  'active',
  'wait',
  'waiting-children',
  'paused',
  'id',
  'delayed',
  'prioritized',
  'stalled-check',
  'completed',
  'failed',
  'stalled',
  'repeat',
  'limiter',
  'meta',
  'events',
  'pc',
  'marker',
  'de',
])

/**
 * Job ids and scheduler ids follow BullMQ's rules in both modes (a behaviour that differs between modes is a bug):
 * BullMQ rejects custom ids that contain ':' (reserved for its own `repeat:<scheduler>:<millis>` ids) and ids that
 * are integers (they would collide with its auto-increment ids).
 */
export function assertId(kind: 'jobId' | 'schedulerId', id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new Error(`${kind} must be a non-empty string`)
  if (RESERVED_IDS.has(id)) {
    throw new Error(`${kind} '${id}' is the name of one of BullMQ's queue keys; prefix it (e.g. 'run_${id}')`)
  }
  if (id.includes(':')) throw new Error(`${kind} '${id}' contains ':', which BullMQ reserves; use '_' instead`)
  if (/^\d+$/.test(id)) throw new Error(`${kind} '${id}' is an integer, which BullMQ rejects; prefix it (e.g. 'run_${id}')`)
}

export function assertJobName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new Error('job name must be a non-empty string')
}

export function assertWorkerOptions(options: WorkerHostOptions): void {
  const names = Object.keys(options.handlers ?? {})
  if (names.length === 0) {
    throw new Error('startWorkers: the handler map is empty; pass one handler per job name (e.g. { "run.execute": handler })')
  }
  for (const name of names) {
    if (typeof options.handlers[name] !== 'function') throw new Error(`startWorkers: the handler for '${name}' is not a function`)
  }
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new Error(`startWorkers: concurrency must be an integer >= 1 (got ${String(options.concurrency)})`)
  }
  if (typeof options.workerId !== 'string' || options.workerId.length === 0) {
    throw new Error('startWorkers: workerId must be a non-empty string')
  }
}

export function assertDelayMs(delayMs: number | undefined): void {
  if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) {
    throw new Error(`enqueue: delayMs must be a number >= 0 (got ${String(delayMs)})`)
  }
}

export function assertEveryMs(everyMs: number): void {
  if (!Number.isInteger(everyMs) || everyMs < 1) throw new Error(`every: everyMs must be an integer >= 1 (got ${String(everyMs)})`)
}

/**
 * The first fire time of a cron pattern strictly after `fromMillis`, computed with the call BullMQ 6.7's job
 * schedulers make (`defaultRepeatStrategy`: `CronExpressionParser.parse(pattern, { ...repeatOpts, currentDate })`, then
 * `next()`), so the in-process adapter fires at the instants BullMQ would. Undefined when the pattern has no later
 * fire (BullMQ then schedules nothing). Throws, like BullMQ, on a pattern cron-parser cannot parse.
 */
export function nextCronFire(pattern: string, fromMillis: number, tz?: string): number | undefined {
  const interval = CronExpressionParser.parse(pattern, { ...(tz === undefined ? {} : { tz }), currentDate: new Date(fromMillis) })
  try {
    return interval.next().getTime()
  } catch {
    return undefined
  }
}

/**
 * The next `count` fire times after `fromMillis`, each computed from the previous one — the chain a job scheduler
 * follows when every iteration starts on time (BullMQ plans the next iteration from max(now, previous tick)).
 */
export function nextCronFires(pattern: string, fromMillis: number, count: number, tz?: string): number[] {
  const fires: number[] = []
  let from = fromMillis
  while (fires.length < count) {
    const next = nextCronFire(pattern, from, tz)
    if (next === undefined) break
    fires.push(next)
    from = next
  }
  return fires
}

/** A cron pattern and time zone both adapters accept: parsed, in a known zone, with at least one future fire. */
export function assertCron(pattern: string, tz: string | undefined): void {
  if (typeof pattern !== 'string' || pattern.trim().length === 0) throw new Error('cron: pattern must be a non-empty string')
  if (tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz })
    } catch {
      throw new Error(`cron: '${tz}' is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')`)
    }
  }
  let next: number | undefined
  try {
    next = nextCronFire(pattern, Date.now(), tz)
  } catch (err) {
    throw new Error(`cron: invalid pattern '${pattern}' (${errorMessage(err)}); use five fields 'min hour day month weekday' or six with seconds first`)
  }
  if (next === undefined) throw new Error(`cron: pattern '${pattern}' never fires`)
}

/** The handler for `name`, or undefined (own properties only: 'constructor' or 'toString' are not handlers). */
export function handlerFor<T>(handlers: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(handlers, name) ? handlers[name] : undefined
}

/** Resolves true when `promise` settles within `ms`, false otherwise. Never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const settled = promise.then(
    () => true,
    () => true,
  )
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms))
  })
  try {
    return await Promise.race([settled, timedOut])
  } finally {
    clearTimeout(timer)
  }
}

export interface ActiveJobs {
  /** Runs `fn` as an active job with its own AbortSignal. */
  run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T>
  count(): number
  abortAll(reason: unknown): void
  /** Resolves when no job is active. */
  idle(): Promise<void>
}

/** Counts executing handlers and owns their AbortControllers. */
export function createActiveJobs(): ActiveJobs {
  const controllers = new Set<AbortController>()
  let waiters: Array<() => void> = []
  return {
    async run(fn) {
      const controller = new AbortController()
      controllers.add(controller)
      try {
        return await fn(controller.signal)
      } finally {
        controllers.delete(controller)
        if (controllers.size === 0) {
          const resolved = waiters
          waiters = []
          for (const resolve of resolved) resolve()
        }
      }
    },
    count: () => controllers.size,
    abortAll(reason) {
      for (const controller of controllers) controller.abort(reason)
    },
    idle() {
      if (controllers.size === 0) return Promise.resolve()
      return new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/** ioredis reconnect backoff: 200 ms, 400 ms, ... capped at 2 s, forever. */
export const reconnectDelay = (times: number): number => Math.min(times * 200, 2_000)

/** BullMQ and channel prefixes are joined with ':'; accept 'ov' and 'ov:' alike. */
export const normalizePrefix = (prefix: string): string => {
  const trimmed = prefix.replace(/:+$/, '')
  if (trimmed.length === 0) throw new Error('a non-empty Redis key prefix is required')
  return trimmed
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** Where a Redis URL points, without credentials, for log and error messages. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '6379'}`
  } catch {
    return '(unparseable Redis URL)'
  }
}

/** While a connection keeps failing, repeat the warning at most this often (the rest are debug lines). */
const REPEAT_WARNING_MS = 30_000

/**
 * Logs a connection's errors without flooding: the first error after the connection was healthy is a warning (and
 * again every 30 s while it stays down), the rest are debug lines, and the recovery is logged once.
 */
export function watchConnection(
  conn: { on(event: 'error', fn: (err: Error) => void): unknown; on(event: 'ready', fn: () => void): unknown },
  log: Logger,
  what: string,
): void {
  let failing = false
  let lastWarning = 0
  conn.on('error', (err: Error) => {
    const now = Date.now()
    if (failing && now - lastWarning < REPEAT_WARNING_MS) {
      log.debug({ err: err.message }, `${what}: still failing`)
      return
    }
    failing = true
    lastWarning = now
    log.warn({ err: err.message }, `${what}: Redis error; reconnecting`)
  })
  conn.on('ready', () => {
    if (failing) log.info(`${what}: reconnected`)
    failing = false
  })
}
