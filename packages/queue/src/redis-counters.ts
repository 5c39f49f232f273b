/** Redis counters (server mode, shared by every gateway on the prefix). Imported through `@openvesper/queue/redis` only. */
import { silentLogger, type Logger } from '@openvesper/shared'
import { Redis, type RedisOptions } from 'ioredis'
import { assertKey, assertTake, assertWindow, type CounterStore } from './counters.js'
import { createLifecycle, describeRedisUrl, normalizePrefix, reachRedis, reconnectDelay, redisUnavailable, settlesWithin, watchConnection } from './internal.js'

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

/** Up to ARGV[3] of the ARGV[2] hits the window allows; the window opens (with its expiry) on its first hit. */
const TAKE_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.max(0, math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - count))
if granted > 0 then count = redis.call('INCRBY', KEYS[1], granted) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 and count > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if ttl < 0 then ttl = 0 end
return {granted, count, ttl}
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
  ovCounterTake(key: string, windowMs: number, limit: number, want: number): Promise<[number, number, number]>
}

export function createRedisCounterStore(options: RedisCounterStoreOptions): CounterStore {
  const { redisUrl } = options
  const base = `${normalizePrefix(options.prefix)}:counters:`
  const log = options.log ?? silentLogger
  const where = describeRedisUrl(redisUrl)
  const lifecycle = createLifecycle('counter store', 'counters')
  let conn: CounterRedis | undefined

  function connection(operation: string): CounterRedis {
    lifecycle.assertStarted(operation)
    return conn!
  }

  const unavailable = redisUnavailable('counter store', where)

  return {
    kind: 'redis',

    async start() {
      await lifecycle.start(async () => {
        const c = new Redis(redisUrl, { ...COUNTER_REDIS_OPTIONS, connectionName: `${base}client` }) as CounterRedis
        c.defineCommand('ovCounterHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
        c.defineCommand('ovCounterPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT })
        c.defineCommand('ovCounterTake', { numberOfKeys: 1, lua: TAKE_SCRIPT })
        watchConnection(c, log, 'counter store')
        await reachRedis(
          'counter store',
          where,
          () => c.connect(),
          () => c.disconnect(),
        )
        conn = c
      })
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

    async take(key, windowMs, limit, want) {
      assertKey(key)
      assertWindow(windowMs)
      assertTake(limit, want)
      const c = connection('take')
      try {
        const [granted, count, ttl] = await c.ovCounterTake(base + key, windowMs, limit, want)
        return { granted: Number(granted), count: Number(count), resetAtMs: Date.now() + Number(ttl) }
      } catch (err) {
        throw unavailable('take', err)
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
      if (!lifecycle.close()) return
      const c = conn
      conn = undefined
      if (c && !(await settlesWithin(c.quit(), 1_000))) c.disconnect()
    },
  }
}
