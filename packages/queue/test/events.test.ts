import { Redis } from 'ioredis'
import { createTestRedis, waitFor, type TestRedis } from '@openvesper/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CountingEventBus, createLocalFirstEventBus } from '../src/events.js'
import { createRedisEventBus, type RedisEventBus } from '../src/redis-events.js'
import { defineEventBusContractTests } from './contract.js'
import { captureLog, startTcpProxy } from './helpers.js'

let redis: TestRedis
beforeAll(async () => {
  redis = await createTestRedis()
})
afterAll(async () => {
  await redis.cleanup()
})

defineEventBusContractTests('redis', ({ log }) => createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix, log }))

describe('redis event bus', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function startBus(redisUrl = redis.url, prefix = redis.prefix, log = captureLog().log): Promise<RedisEventBus> {
    const bus = createRedisEventBus({ redisUrl, prefix, log })
    cleanups.push(() => bus.close())
    await bus.start()
    return bus
  }

  function adminClient(): Redis {
    const client = new Redis(redis.url)
    cleanups.push(() => void client.disconnect())
    return client
  }

  const numsub = async (client: Redis, channel: string): Promise<number> => {
    const reply = (await client.pubsub('NUMSUB', channel)) as Array<string | number>
    return Number(reply[1])
  }

  it('delivers across processes, under the prefix, with one Redis subscription per channel', async () => {
    const gatewayA = await startBus()
    const gatewayB = await startBus()
    const admin = adminClient()
    const got: string[] = []
    const unsubscribe1 = await gatewayB.subscribe('run_42', (m) => got.push(`1:${m}`))
    const unsubscribe2 = await gatewayB.subscribe('run_42', (m) => got.push(`2:${m}`))
    expect(await numsub(admin, `${redis.prefix}:events:run_42`)).toBe(1)

    await gatewayA.publish('run_42', 'delta')
    await waitFor(() => got.length === 2, { what: 'both local subscribers' })
    expect(got.sort()).toEqual(['1:delta', '2:delta'])

    await unsubscribe1()
    expect(await numsub(admin, `${redis.prefix}:events:run_42`)).toBe(1)
    await unsubscribe2()
    expect(await numsub(admin, `${redis.prefix}:events:run_42`)).toBe(0)
    expect(gatewayB.channelCount()).toBe(0)
  })

  it('does not deliver messages of another prefix', async () => {
    const mine = await startBus()
    const theirs = await startBus(redis.url, `${redis.prefix}other`)
    const got: string[] = []
    await mine.subscribe('same', (m) => got.push(m))
    await theirs.publish('same', 'foreign')
    await mine.publish('same', 'own')
    await waitFor(() => got.length >= 1, { what: 'own message' })
    expect(got).toEqual(['own'])
  })

  it('re-subscribes after the connection comes back', async () => {
    const proxy = await startTcpProxy(redis.url)
    cleanups.push(() => proxy.close())
    const { log, entries } = captureLog()
    const subscriber = await startBus(proxy.url, redis.prefix, log)
    const publisher = await startBus()
    const got: string[] = []
    await subscriber.subscribe('survives', (m) => got.push(m))
    await publisher.publish('survives', 'before')
    await waitFor(() => got.includes('before'), { what: 'message before the outage' })

    await proxy.stop()
    await waitFor(() => entries.some((e) => e.level === 'warn' && e.msg.startsWith('event bus subscriber: Redis error')), {
      what: 'the subscriber to notice the outage',
    })
    await proxy.resume()
    // Pub/sub is fire-and-forget: messages published while the subscriber reconnects are lost, so keep publishing.
    await waitFor(
      async () => {
        await publisher.publish('survives', 'after')
        return got.includes('after')
      },
      { what: 'message after the outage', timeoutMs: 15_000, intervalMs: 200 },
    )
    expect(subscriber.channelCount()).toBe(1)
  })

  it('fails fast, without hanging, when Redis is unreachable', async () => {
    const bus = createRedisEventBus({ redisUrl: 'redis://127.0.0.1:1', prefix: redis.prefix })
    cleanups.push(() => bus.close())
    const t0 = Date.now()
    await expect(bus.start()).rejects.toThrow(/cannot reach Redis at 127\.0\.0\.1:1/)
    await expect(bus.publish('c', 'm')).rejects.toThrow()
    expect(Date.now() - t0).toBeLessThan(3_000)
  })
})

defineEventBusContractTests('local-first over redis', ({ log }) =>
  createLocalFirstEventBus(createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix, log }), { instanceId: 'contract', log }),
)

describe('local-first event bus', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function instance(instanceId: string): Promise<CountingEventBus> {
    const bus = createLocalFirstEventBus(createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix }), { instanceId })
    cleanups.push(() => bus.close())
    await bus.start()
    return bus
  }

  it('delivers once in the publishing process (not again when Redis echoes it) and through Redis to the others', async () => {
    const a = await instance('a')
    const b = await instance('b')
    const gotA: string[] = []
    const gotB: string[] = []
    await a.subscribe('run:x', (m) => void gotA.push(m))
    await b.subscribe('run:x', (m) => void gotB.push(m))
    await a.publish('run:x', '[1]')
    await b.publish('run:x', '[2]')
    await waitFor(() => gotA.length === 2 && gotB.length === 2)
    // Give a duplicate echo time to arrive before checking there is none.
    await new Promise((r) => setTimeout(r, 100))
    // Each exactly once; across two publishers there is no order (a process sees its own message first).
    expect(gotA.sort()).toEqual(['[1]', '[2]'])
    expect(gotB.sort()).toEqual(['[1]', '[2]'])
  })

  it('reaches a local subscriber without Redis: delivered before the Redis round trip completes', async () => {
    const a = await instance('a')
    const got: string[] = []
    await a.subscribe('run:y', (m) => void got.push(m))
    const published = a.publish('run:y', 'local')
    // One microtask turn later the local subscriber has it, while the PUBLISH is still in flight.
    await Promise.resolve()
    await Promise.resolve()
    expect(got).toEqual(['local'])
    await published
  })

  it("keeps a local-only subscription out of Redis: it gets this process's messages, not the others'", async () => {
    const a = await instance('a')
    const b = await instance('b')
    const got: string[] = []
    const unsubscribe = await a.subscribe('run:local', (m) => void got.push(m), { local: true })
    const admin = new Redis(redis.url)
    cleanups.push(async () => void admin.disconnect())
    expect(await admin.pubsub('NUMSUB', `${redis.prefix}:events:run:local`)).toEqual([`${redis.prefix}:events:run:local`, 0])
    const watcher: string[] = []
    await b.subscribe('run:local', (m) => void watcher.push(m))
    await b.publish('run:local', 'from b')
    await a.publish('run:local', 'from a')
    await waitFor(() => watcher.length === 2) // b hears both: a's message went through Redis as usual
    expect(got).toEqual(['from a'])
    await unsubscribe()
    await a.publish('run:local', 'after')
    await waitFor(() => watcher.length === 3)
    expect(got).toEqual(['from a'])
  })

  it('delivers messages from publishers that do not mark their origin (a plain Redis bus)', async () => {
    const a = await instance('a')
    const plain = createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix })
    cleanups.push(() => plain.close())
    await plain.start()
    const got: string[] = []
    await a.subscribe('run:z', (m) => void got.push(m))
    await plain.publish('run:z', '{"plain":true}')
    await waitFor(() => got.length === 1)
    expect(got).toEqual(['{"plain":true}'])
  })
})
