import { Redis } from 'ioredis'
import { isAppError } from '@openvesper/shared'
import { createTestRedis, waitFor, type TestRedis } from '@openvesper/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CounterStore, createInProcessCounterStore } from '../src/counters.js'
import { createRedisCounterStore } from '../src/redis-counters.js'
import { captureLog, startTcpProxy } from './helpers.js'

let redis: TestRedis
beforeAll(async () => {
  redis = await createTestRedis()
})
afterAll(async () => {
  await redis.cleanup()
})

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

let keyCounter = 0
const nextKey = () => `k${++keyCounter}`

function defineCounterStoreContractTests(name: string, factory: () => CounterStore) {
  describe(`counter store contract (${name})`, () => {
    async function started(): Promise<CounterStore> {
      const store = factory()
      cleanups.push(() => store.close())
      await store.start()
      return store
    }

    it('counts hits per key within one window', async () => {
      const store = await started()
      const [a, b] = [nextKey(), nextKey()]
      const before = Date.now()
      const first = await store.hit(a, 60_000)
      expect(first.count).toBe(1)
      expect(first.resetAtMs).toBeGreaterThanOrEqual(before + 59_000)
      expect(first.resetAtMs).toBeLessThanOrEqual(Date.now() + 60_000)
      expect((await store.hit(a, 60_000)).count).toBe(2)
      const third = await store.hit(a, 60_000)
      expect(third.count).toBe(3)
      // The window is fixed at the first hit: later hits do not extend it.
      expect(third.resetAtMs).toBeLessThanOrEqual(first.resetAtMs + 50)
      expect((await store.hit(b, 60_000)).count).toBe(1)
    })

    it('peeks without counting and reports no window for an unknown key', async () => {
      const store = await started()
      const key = nextKey()
      const empty = await store.peek(key)
      expect(empty.count).toBe(0)
      await store.hit(key, 60_000)
      await store.hit(key, 60_000)
      expect((await store.peek(key)).count).toBe(2)
      expect((await store.peek(key)).count).toBe(2)
      expect((await store.hit(key, 60_000)).count).toBe(3)
    })

    it('starts a new window once the current one has closed', async () => {
      const store = await started()
      const key = nextKey()
      await store.hit(key, 100)
      expect((await store.hit(key, 100)).count).toBe(2)
      await waitFor(async () => (await store.peek(key)).count === 0, { what: 'the window to close' })
      const fresh = await store.hit(key, 60_000)
      expect(fresh.count).toBe(1)
      expect(fresh.resetAtMs).toBeGreaterThan(Date.now() + 59_000)
    })

    it('takes hits in batches, never past the limit, in the same window as hit()', async () => {
      const store = await started()
      const key = nextKey()
      const before = Date.now()
      const first = await store.take(key, 60_000, 10, 4)
      expect(first).toMatchObject({ granted: 4, count: 4 })
      expect(first.resetAtMs).toBeGreaterThanOrEqual(before + 59_000)
      expect(first.resetAtMs).toBeLessThanOrEqual(Date.now() + 60_000)
      expect((await store.hit(key, 60_000)).count).toBe(5)
      // Only what is left of the window is granted, then nothing, and a refused take counts nothing.
      expect(await store.take(key, 60_000, 10, 4)).toMatchObject({ granted: 4, count: 9 })
      expect(await store.take(key, 60_000, 10, 4)).toMatchObject({ granted: 1, count: 10 })
      const refused = await store.take(key, 60_000, 10, 4)
      expect(refused).toMatchObject({ granted: 0, count: 10 })
      expect(refused.resetAtMs).toBeLessThanOrEqual(first.resetAtMs + 50)
      expect((await store.peek(key)).count).toBe(10)
      // A lower limit on a fuller window grants nothing either.
      expect(await store.take(key, 60_000, 3, 1)).toMatchObject({ granted: 0, count: 10 })
    })

    it('opens a new window for take() once the current one has closed', async () => {
      const store = await started()
      const key = nextKey()
      expect(await store.take(key, 100, 2, 5)).toMatchObject({ granted: 2, count: 2 })
      expect(await store.take(key, 100, 2, 5)).toMatchObject({ granted: 0, count: 2 })
      await waitFor(async () => (await store.peek(key)).count === 0, { what: 'the window to close' })
      expect(await store.take(key, 60_000, 2, 1)).toMatchObject({ granted: 1, count: 1 })
    })

    it('rejects bad arguments and use outside start()/close()', async () => {
      const store = factory()
      await expect(store.hit('k', 1000)).rejects.toThrow(/before start\(\)/)
      await store.start()
      await expect(store.hit('', 1000)).rejects.toThrow(/non-empty/)
      await expect(store.hit('k', 0)).rejects.toThrow(/windowMs/)
      await expect(store.hit('k', 1.5)).rejects.toThrow(/windowMs/)
      await expect(store.take('k', 1000, 0, 1)).rejects.toThrow(/limit/)
      await expect(store.take('k', 1000, 5, 0)).rejects.toThrow(/want/)
      await expect(store.take('k', 1000, 5, 1.5)).rejects.toThrow(/want/)
      await expect(store.start()).rejects.toThrow(/twice/)
      await store.close()
      await store.close()
      await expect(store.peek('k')).rejects.toThrow(/after close\(\)/)
    })
  })
}

defineCounterStoreContractTests('redis', () => createRedisCounterStore({ redisUrl: redis.url, prefix: redis.prefix }))
defineCounterStoreContractTests('inprocess', () => createInProcessCounterStore())

describe('redis counter store', () => {
  async function started(redisUrl = redis.url, prefix = redis.prefix, log = captureLog().log): Promise<CounterStore> {
    const store = createRedisCounterStore({ redisUrl, prefix, log })
    cleanups.push(() => store.close())
    await store.start()
    return store
  }

  it('shares counters between instances on the same prefix (two gateways), not across prefixes', async () => {
    const gatewayA = await started()
    const gatewayB = await started()
    const other = await started(redis.url, `${redis.prefix}other`)
    const key = nextKey()
    expect((await gatewayA.hit(key, 60_000)).count).toBe(1)
    expect((await gatewayB.hit(key, 60_000)).count).toBe(2)
    expect((await gatewayA.hit(key, 60_000)).count).toBe(3)
    expect((await gatewayB.peek(key)).count).toBe(3)
    expect((await other.peek(key)).count).toBe(0)
    expect((await other.hit(key, 60_000)).count).toBe(1)
  })

  it('hands out one budget between instances: concurrent takes never grant more than the limit', async () => {
    const gateways = [await started(), await started(), await started()]
    const key = nextKey()
    const takes = await Promise.all(Array.from({ length: 30 }, (_, i) => gateways[i % 3]!.take(key, 60_000, 50, 3)))
    expect(takes.reduce((sum, t) => sum + t.granted, 0)).toBe(50)
    expect((await gateways[0]!.peek(key)).count).toBe(50)
  })

  it('keeps each counter under the prefix with the window as its expiry', async () => {
    const store = await started()
    const key = nextKey()
    await store.hit(key, 30_000)
    const admin = new Redis(redis.url)
    cleanups.push(() => void admin.disconnect())
    expect(await admin.get(`${redis.prefix}:counters:${key}`)).toBe('1')
    const ttl = await admin.pttl(`${redis.prefix}:counters:${key}`)
    expect(ttl).toBeGreaterThan(25_000)
    expect(ttl).toBeLessThanOrEqual(30_000)
    // A counter that lost its expiry gets one back on its next hit instead of living forever.
    await admin.persist(`${redis.prefix}:counters:${key}`)
    expect((await store.hit(key, 30_000)).count).toBe(2)
    expect(await admin.pttl(`${redis.prefix}:counters:${key}`)).toBeGreaterThan(0)
  })

  it('counts every hit exactly once under concurrency', async () => {
    const [a, b] = [await started(), await started()]
    const key = nextKey()
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).hit(key, 60_000)))
    expect(results.map((r) => r.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
  })

  it('rejects fast with unavailable while Redis is down and recovers when it is back', async () => {
    const proxy = await startTcpProxy(redis.url)
    cleanups.push(() => proxy.close())
    const { log, entries } = captureLog()
    const store = await started(proxy.url, redis.prefix, log)
    const key = nextKey()
    expect((await store.hit(key, 60_000)).count).toBe(1)

    await proxy.stop()
    await waitFor(() => entries.some((e) => e.level === 'warn' && e.msg.startsWith('counter store: Redis error')), { what: 'the outage to be noticed' })
    const t0 = Date.now()
    const err = await store.hit(key, 60_000).catch((e: unknown) => e)
    expect(isAppError(err) && err.code === 'unavailable').toBe(true)
    expect(String((err as Error).message)).not.toMatch(/redis:\/\//)
    await expect(store.peek(key)).rejects.toThrow(/counter store unavailable/)
    expect(Date.now() - t0).toBeLessThan(3_000)

    await proxy.resume()
    await waitFor(async () => (await store.peek(key).catch(() => undefined))?.count === 1, { what: 'the store to reconnect', timeoutMs: 15_000 })
    expect((await store.hit(key, 60_000)).count).toBe(2)
  })

  it('fails fast, without hanging, when Redis is unreachable at start', async () => {
    const store = createRedisCounterStore({ redisUrl: 'redis://127.0.0.1:1', prefix: redis.prefix })
    cleanups.push(() => store.close())
    const t0 = Date.now()
    await expect(store.start()).rejects.toThrow(/cannot reach Redis at 127\.0\.0\.1:1/)
    expect(Date.now() - t0).toBeLessThan(3_000)
  })
})

describe('in-process counter store', () => {
  it('closes windows by its clock', async () => {
    let now = 1_000_000
    const store = createInProcessCounterStore({ now: () => now })
    cleanups.push(() => store.close())
    await store.start()
    expect(await store.hit('a', 1000)).toEqual({ count: 1, resetAtMs: 1_001_000 })
    now += 999
    expect(await store.hit('a', 1000)).toEqual({ count: 2, resetAtMs: 1_001_000 })
    now += 1
    expect(await store.peek('a')).toEqual({ count: 0, resetAtMs: now })
    expect(await store.hit('a', 1000)).toEqual({ count: 1, resetAtMs: now + 1000 })
  })

  it('holds at most maxKeys windows, dropping expired ones first and then the oldest', async () => {
    let now = 0
    const store = createInProcessCounterStore({ now: () => now, maxKeys: 3 })
    cleanups.push(() => store.close())
    await store.start()
    await store.hit('short', 10)
    await store.hit('old', 1000)
    await store.hit('old', 1000)
    await store.hit('mid', 1000)
    now = 20
    await store.hit('new1', 1000)
    // `short` had expired and made room: nothing live was dropped.
    expect((await store.peek('old')).count).toBe(2)
    await store.hit('new2', 1000)
    expect((await store.peek('old')).count).toBe(0)
    expect((await store.peek('mid')).count).toBe(1)
    expect((await store.peek('new2')).count).toBe(1)
  })

  it('does not share counters between instances (one process, one store)', async () => {
    const [a, b] = [createInProcessCounterStore(), createInProcessCounterStore()]
    cleanups.push(
      () => a.close(),
      () => b.close(),
    )
    await a.start()
    await b.start()
    await a.hit('x', 60_000)
    expect((await b.peek('x')).count).toBe(0)
  })
})
