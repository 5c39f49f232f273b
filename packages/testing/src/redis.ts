import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { TEST_REDIS_URL } from './env.js'

export interface TestRedis {
  url: string
  /** Unique per test file: every key and BullMQ queue of the file lives under it. */
  prefix: string
  /** Every key under the prefix with its type and values (hash: field, value, …; stream: id, field, value, …). */
  entries(): Promise<RedisEntry[]>
  cleanup(): Promise<void>
}

export interface RedisEntry {
  key: string
  type: string
  values: string[]
}

/** A short-lived client for `fn`. */
async function withRedis<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await r.connect()
  try {
    return await fn(r)
  } finally {
    r.disconnect()
  }
}

async function scanKeys(r: Redis, prefix: string, each: (keys: string[]) => Promise<void>): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (keys.length) await each(keys)
  } while (cursor !== '0')
}

async function valuesOf(r: Redis, key: string, type: string): Promise<string[]> {
  switch (type) {
    case 'string':
      return [(await r.get(key)) ?? '']
    case 'hash':
      return Object.entries(await r.hgetall(key)).flat()
    case 'list':
      return r.lrange(key, 0, -1)
    case 'set':
      return r.smembers(key)
    case 'zset':
      return r.zrange(key, '0', '-1')
    case 'stream':
      return (await r.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields])
    default:
      return []
  }
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `ovt${randomBytes(4).toString('hex')}`
  return {
    url: TEST_REDIS_URL,
    prefix,
    entries: () =>
      withRedis(async (r) => {
        const out: RedisEntry[] = []
        await scanKeys(r, prefix, async (keys) => {
          for (const key of keys) {
            const type = await r.type(key)
            out.push({ key, type, values: await valuesOf(r, key, type) })
          }
        })
        return out
      }),
    cleanup: () =>
      withRedis((r) =>
        scanKeys(r, prefix, async (keys) => {
          await r.del(...keys)
        }),
      ),
  }
}

export async function assertRedisReachable(): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null })
  try {
    await r.connect()
    await r.ping()
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${TEST_REDIS_URL}: ${(err as Error).message}. Start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`,
    )
  } finally {
    r.disconnect()
  }
}
