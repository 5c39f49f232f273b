import { createDb, type DbHandle } from '@openvesper/db'
import { createInProcessEventBus, createLocalFirstEventBus, type EventBus } from '@openvesper/queue'
import { createRedisEventBus } from '@openvesper/queue/redis'
import { silentLogger } from '@openvesper/shared'
import { createEmbeddedDb, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunEvent, RunEventType } from '../src/runs/event-types.js'
import { createRunEvents, type RunEvents } from '../src/runs/events.js'
import { createRunsRepo } from '../src/runs/runs.repo.js'

const transports = {
  embedded: async () => ({ handle: await createEmbeddedDb(), bus: createInProcessEventBus() as EventBus, cleanup: async () => {} }),
  server: async () => {
    const database: TestDatabase = await createTestDatabase()
    const redis: TestRedis = await createTestRedis()
    const handle = createDb({ kind: 'postgres', url: database.url, max: 4 })
    const bus = createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix })
    return {
      handle,
      bus,
      cleanup: async () => {
        await redis.cleanup()
        await database.drop()
      },
    }
  },
  'server, local-first bus': async () => {
    const database: TestDatabase = await createTestDatabase()
    const redis: TestRedis = await createTestRedis()
    const handle = createDb({ kind: 'postgres', url: database.url, max: 4 })
    const bus = createLocalFirstEventBus(createRedisEventBus({ redisUrl: redis.url, prefix: redis.prefix }), { instanceId: 'test' })
    return {
      handle,
      bus,
      cleanup: async () => {
        await redis.cleanup()
        await database.drop()
      },
    }
  },
}

describe.each(Object.keys(transports) as (keyof typeof transports)[])('run event log and follow() (%s)', (name) => {
  let handle: DbHandle
  let bus: EventBus
  let events: RunEvents
  let cleanup: () => Promise<void>
  let n = 0

  beforeAll(async () => {
    ;({ handle, bus, cleanup } = await transports[name]())
    await bus.start()
    events = createRunEvents({ db: handle.db, bus, log: silentLogger })
  })
  afterAll(async () => {
    await bus.close()
    await handle.close()
    await cleanup()
  })

  /** One event stored (numbered, fenced when asked) without publishing it: a lost publication. */
  const store = async (runId: string, type: RunEventType, data: Record<string, unknown>, fence?: { attempt: number }) =>
    (await events.storeMany(runId, [{ type, data }], fence))?.[0]
  /** One event stored and published, as the executor does. */
  const append = async (runId: string, type: RunEventType, data: Record<string, unknown>, fence?: { attempt: number }) => {
    const event = await store(runId, type, data, fence)
    if (event) await events.publish(event)
    return event
  }

  async function newRun(): Promise<string> {
    const id = `run_test${(n++).toString().padStart(8, '0')}`
    const repo = createRunsRepo(handle.db)
    await repo.insert({ id, principalId: 'p', agentId: 'main', sessionId: null, mode: 'async', message: 'm', idempotencyKey: null, requestId: null })
    // The claim stores run.started as event 1.
    expect((await repo.claim(id, 'w', 60_000))?.started.seq).toBe(1)
    return id
  }

  it('numbers events 1, 2, 3… per run and refuses writes once the fence no longer holds', async () => {
    const runId = await newRun()
    const a = await append(runId, 'agent.text_delta', { text: 'x' }, { attempt: 1 })
    const b = await append(runId, 'agent.text_delta', { text: 'y' }, { attempt: 1 })
    expect([a?.seq, b?.seq]).toEqual([2, 3])
    expect(await append(runId, 'agent.text_delta', { text: 'stale' }, { attempt: 2 })).toBeUndefined()
    expect((await events.list(runId, 0)).map((e) => [e.seq, e.type])).toEqual([
      [1, 'run.started'],
      [2, 'agent.text_delta'],
      [3, 'agent.text_delta'],
    ])
  })

  it('delivers every event exactly once and in order even when publications are lost', async () => {
    const runId = await newRun()
    const got: RunEvent[] = []
    const ctrl = new AbortController()
    const following = events.follow(runId, 0, (e) => void got.push(e), ctrl.signal, { pollMs: 200 })
    // Stored but never published (a lost publication), then a published one: the gap is filled from the log.
    await store(runId, 'agent.text_delta', { text: 'lost-1' }, { attempt: 1 })
    await append(runId, 'agent.text_delta', { text: 'published' }, { attempt: 1 })
    // A lost terminal event: only the quiet-bus poll can deliver it.
    await store(runId, 'run.completed', { output: 'done' })
    await following
    expect(got.map((e) => [e.seq, e.type])).toEqual([
      [1, 'run.started'],
      [2, 'agent.text_delta'],
      [3, 'agent.text_delta'],
      [4, 'run.completed'],
    ])
  })

  it('ends at once when resuming at or past the terminal event of a finished run', async () => {
    const runId = await newRun()
    expect((await createRunsRepo(handle.db).cancel(runId, 'aborted'))?.seq).toBe(2)
    expect(await createRunsRepo(handle.db).cancel(runId, 'aborted')).toBeUndefined()
    for (const after of [2, 5]) {
      const got: RunEvent[] = []
      await events.follow(runId, after, (e) => void got.push(e), new AbortController().signal, { pollMs: 100 })
      expect(got).toEqual([])
    }
  })

  it('resumes after a cursor and ends when the caller aborts', async () => {
    const runId = await newRun()
    for (const t of ['a', 'b', 'c']) await append(runId, 'agent.text_delta', { text: t }, { attempt: 1 })
    const got: RunEvent[] = []
    const ctrl = new AbortController()
    const following = events.follow(
      runId,
      3,
      (e) => {
        got.push(e)
        ctrl.abort()
      },
      ctrl.signal,
    )
    await following
    expect(got.map((e) => e.data.text)).toEqual(['c'])
  })

  it('follows a fresh run from its live events alone once the producer starts after the subscription', async () => {
    const runId = await newRun()
    const got: RunEvent[] = []
    await events.follow(runId, 1, (e) => void got.push(e), new AbortController().signal, {
      fresh: true,
      onSubscribed: () => {
        void (async () => {
          await append(runId, 'agent.text_delta', { text: 'hi' }, { attempt: 1 })
          await append(runId, 'run.completed', { output: 'hi' }, { attempt: 1 })
        })()
      },
    })
    expect(got.map((e) => [e.seq, e.type])).toEqual([
      [2, 'agent.text_delta'],
      [3, 'run.completed'],
    ])
  })

  it('keeps at most maxBacklogBytes of bus messages for a slow consumer and catches up from the log (A13)', async () => {
    const runId = await newRun()
    const text = 'y'.repeat(1000)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const got: RunEvent[] = []
    const ctrl = new AbortController()
    const following = events.follow(
      runId,
      0,
      async (e) => {
        got.push(e)
        await gate // the consumer is stuck while the run produces 200 KB
      },
      ctrl.signal,
      { maxBacklogBytes: 8 * 1024, pollMs: 60_000 },
    )
    await new Promise((r) => setTimeout(r, 100)) // subscribed
    for (let i = 0; i < 200; i++) await append(runId, 'agent.text_delta', { text, i }, { attempt: 1 })
    await append(runId, 'run.completed', { output: 'done' }, { attempt: 1 })
    release()
    const result = await following
    // Every event once and in order; most of them came from the log, since the bus messages past 8 KB were dropped.
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 202 }, (_, i) => i + 1))
    expect(got.slice(1, -1).map((e) => e.data.i)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    expect(result.delivered).toBe(202)
    expect(result.fromLog).toBeGreaterThan(180)

    // A consumer that keeps up gets the live messages.
    const fast = await newRun()
    const quick = events.follow(fast, 1, () => {}, new AbortController().signal, { maxBacklogBytes: 8 * 1024, pollMs: 60_000 })
    await new Promise((r) => setTimeout(r, 100))
    for (let i = 0; i < 20; i++) await append(fast, 'agent.text_delta', { text }, { attempt: 1 })
    await append(fast, 'run.completed', { output: 'done' }, { attempt: 1 })
    expect(await quick).toEqual({ delivered: 21, fromLog: 0 })
  })
})
