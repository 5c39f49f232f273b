import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { TEST_REDIS_URL } from './env.js'

export interface TestRedis {
  url: string
  /** Unique per test file: every key and BullMQ queue of the file lives under it. */
  prefix: string
  cleanup(): Promise<void>
}

export async function createTestRedis(): Promise<TestRedis> {
  const prefix = `ovt${randomBytes(4).toString('hex')}`
  return {
    url: TEST_REDIS_URL,
    prefix,
    async cleanup() {
      const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
      await r.connect()
      try {
        let cursor = '0'
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
          cursor = next
          if (keys.length) await r.del(...keys)
        } while (cursor !== '0')
      } finally {
        r.disconnect()
      }
    },
  }
}

export async function assertRedisReachable(): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null })
  try {
    await r.connect()
    await r.ping()
  } catch (err) {
    throw new Error(`Redis is not reachable at ${TEST_REDIS_URL}: ${(err as Error).message}. Start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`)
  } finally {
    r.disconnect()
  }
}
