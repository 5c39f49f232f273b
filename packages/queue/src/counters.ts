/**
 * Fixed-window counters for rate limits: Redis (server mode, shared by every gateway on the prefix) and in-process
 * (embedded mode). A window opens on a key's first hit and lasts `windowMs`; the next hit after it closes opens a
 * new one. Both adapters do no I/O on construction, connect in `start()` and fail fast: a Redis outage is a rejected
 * promise within ~1 s, never a hang (the caller decides whether that allows or refuses the request).
 */
import { AppError, silentLogger, type Logger } from '@openvesper/shared'
import { Redis, type RedisOptions } from 'ioredis'
import { describeRedisUrl, errorMessage, normalizePrefix, reconnectDelay, settlesWithin, watchConnection } from './internal.js'

export interface CounterWindow {
  /** Hits counted in the current window (0 when no window is open). */
  count: number
  /** When the current window closes (epoch ms); now when no window is open. */
  resetAtMs: number
}

export interface CounterStore {
  readonly kind: 'redis' | 'inprocess'
  /** Connects (Redis); construction does no I/O. */
  start(): Promise<void>
  /** Counts one hit on `key`, opening a `windowMs` window if none is open, and returns the window after the hit. */
  hit(key: string, windowMs: number): Promise<CounterWindow>
  /** The current window of `key`, without counting. */
  peek(key: string): Promise<CounterWindow>
  close(): Promise<void>
}

export interface RedisCounterStoreOptions {
  redisUrl: string
  /** Counters live under `<prefix>:counters:<key>` in Redis. */
  prefix: string
  log?: Logger
}

/** Rate limits sit in front of every request: an unreachable Redis must answer within a second, not queue commands. */
const COUNTER_REDIS_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 2_000,
  commandTimeout: 1_000,
  retryStrategy: reconnectDelay,
  // A request's two counter commands (its hit and the auth-failure peek) leave in one write.
  enableAutoPipelining: true,
}

/**
 * INCR and the window's expiry in one atomic step. A key without an expiry (its first hit, or one whose PEXPIRE was
 * lost) gets one, so a counter can never outlive its window.
 */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`

const PEEK_SCRIPT = `
local count = redis.call('GET', KEYS[1])
if not count then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(count), ttl}
`

type CounterRedis = Redis & {
  ovCounterHit(key: string, windowMs: number): Promise<[number, number]>
  ovCounterPeek(key: string): Promise<[number, number]>
}

function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new Error('counter store: key must be a non-empty string')
}

function assertWindow(windowMs: number): void {
  if (!Number.isInteger(windowMs) || windowMs < 1) throw new Error(`counter store: windowMs must be an integer >= 1 (got ${String(windowMs)})`)
}

export function createRedisCounterStore(options: RedisCounterStoreOptions): CounterStore {
  const { redisUrl } = options
  const base = `${normalizePrefix(options.prefix)}:counters:`
  const log = options.log ?? silentLogger
  const where = describeRedisUrl(redisUrl)
  let state: 'new' | 'starting' | 'started' | 'closed' = 'new'
  let conn: CounterRedis | undefined

  function connection(operation: string): CounterRedis {
    if (state === 'closed') throw new Error(`counter store: ${operation} after close()`)
    if (state !== 'started' || !conn) throw new Error(`counter store: ${operation} before start(); call counters.start() first`)
    return conn
  }

  const unavailable = (operation: string, err: unknown) =>
    new AppError('unavailable', `counter store unavailable (${operation}, Redis at ${where}): ${errorMessage(err)}`, { cause: err })

  return {
    kind: 'redis',

    async start() {
      if (state !== 'new') throw new Error(`counter store: start() called twice (state: ${state})`)
      state = 'starting'
      const c = new Redis(redisUrl, { ...COUNTER_REDIS_OPTIONS, connectionName: `${base}client` }) as CounterRedis
      c.defineCommand('ovCounterHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
      c.defineCommand('ovCounterPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT })
      watchConnection(c, log, 'counter store')
      try {
        await c.connect()
      } catch (err) {
        c.disconnect()
        state = 'new'
        throw new Error(`counter store: cannot reach Redis at ${where}: ${errorMessage(err)}`, { cause: err })
      }
      conn = c
      state = 'started'
      log.info({ redis: where }, 'counter store: Redis')
    },

    async hit(key, windowMs) {
      assertKey(key)
      assertWindow(windowMs)
      const c = connection('hit')
      try {
        const [count, ttl] = await c.ovCounterHit(base + key, windowMs)
        return { count: Number(count), resetAtMs: Date.now() + Number(ttl) }
      } catch (err) {
        throw unavailable('hit', err)
      }
    },

    async peek(key) {
      assertKey(key)
      const c = connection('peek')
      try {
        const [count, ttl] = await c.ovCounterPeek(base + key)
        return { count: Number(count), resetAtMs: Date.now() + Number(ttl) }
      } catch (err) {
        throw unavailable('peek', err)
      }
    },

    async close() {
      if (state === 'closed') return
      state = 'closed'
      const c = conn
      conn = undefined
      if (c && !(await settlesWithin(c.quit(), 1_000))) c.disconnect()
    },
  }
}

export interface InProcessCounterStoreOptions {
  /** Epoch milliseconds; tests pass a manual clock to close windows without waiting. */
  now?: () => number
  /**
   * Most keys held at once (each distinct client is a key): when full, expired windows are dropped first, then the
   * oldest windows. Bounds memory when many addresses (an IPv6 range) send requests.
   */
  maxKeys?: number
  /** How often expired windows are swept while started. */
  sweepIntervalMs?: number
}

/** Embedded-mode counters: one process, one map. */
export function createInProcessCounterStore(options: InProcessCounterStoreOptions = {}): CounterStore {
  const now = options.now ?? Date.now
  const maxKeys = options.maxKeys ?? 100_000
  const sweepIntervalMs = options.sweepIntervalMs ?? 30_000
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error(`counter store: maxKeys must be an integer >= 1 (got ${String(maxKeys)})`)
  const windows = new Map<string, { count: number; resetAtMs: number }>()
  let state: 'new' | 'started' | 'closed' = 'new'
  let sweeper: NodeJS.Timeout | undefined

  function assertStarted(operation: string): void {
    if (state === 'closed') throw new Error(`counter store: ${operation} after close()`)
    if (state !== 'started') throw new Error(`counter store: ${operation} before start(); call counters.start() first`)
  }

  function sweep(at: number): void {
    for (const [key, window] of windows) if (window.resetAtMs <= at) windows.delete(key)
  }

  function makeRoom(at: number): void {
    if (windows.size < maxKeys) return
    sweep(at)
    // Map iteration is insertion order: the first keys hold the oldest windows.
    for (const key of windows.keys()) {
      if (windows.size < maxKeys) break
      windows.delete(key)
    }
  }

  return {
    kind: 'inprocess',

    async start() {
      if (state !== 'new') throw new Error(`counter store: start() called twice (state: ${state})`)
      state = 'started'
      sweeper = setInterval(() => sweep(now()), sweepIntervalMs)
      sweeper.unref()
    },

    async hit(key, windowMs) {
      assertKey(key)
      assertWindow(windowMs)
      assertStarted('hit')
      const at = now()
      let window = windows.get(key)
      if (!window || window.resetAtMs <= at) {
        windows.delete(key)
        makeRoom(at)
        window = { count: 0, resetAtMs: at + windowMs }
        windows.set(key, window)
      }
      window.count++
      return { count: window.count, resetAtMs: window.resetAtMs }
    },

    async peek(key) {
      assertKey(key)
      assertStarted('peek')
      const at = now()
      const window = windows.get(key)
      if (!window || window.resetAtMs <= at) return { count: 0, resetAtMs: at }
      return { count: window.count, resetAtMs: window.resetAtMs }
    },

    async close() {
      if (state === 'closed') return
      state = 'closed'
      clearInterval(sweeper)
      windows.clear()
    },
  }
}
