import { createDb, type DbHandle, rawSql, type RunMode } from '@openvesper/db'
import { createEmbeddedDb, createTestDatabase, type TestDatabase } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunsRepo, type NewRun } from '../src/runs/runs.repo.js'

const databases = {
  embedded: async () => ({ handle: await createEmbeddedDb(), cleanup: async () => {} }),
  server: async () => {
    const database: TestDatabase = await createTestDatabase()
    return { handle: createDb({ kind: 'postgres', url: database.url, max: 4 }), cleanup: () => database.drop() }
  },
}

/**
 * Runs created, claimed or finished at the same moment share one statement (the repository coalesces them). Rows
 * written by one statement carry the same now(), which is how these tests see the batches.
 */
describe.each(Object.keys(databases) as (keyof typeof databases)[])('runs repository batches (%s)', (name) => {
  let handle: DbHandle
  let cleanup: () => Promise<void>
  let n = 0
  const repo = () => createRunsRepo(handle.db)
  const newRun = (extra: Partial<NewRun> = {}): NewRun => ({
    id: `run_batch${name.slice(0, 3)}${(n++).toString().padStart(6, '0')}`,
    principalId: 'prn_batch',
    agentId: 'main',
    sessionId: null,
    mode: 'async',
    message: `m${n}`,
    idempotencyKey: null,
    requestId: null,
    ...extra,
  })

  beforeAll(async () => {
    ;({ handle, cleanup } = await databases[name]())
  })
  afterAll(async () => {
    await handle.close()
    await cleanup()
  })

  it('is one repository per database handle', () => {
    expect(createRunsRepo(handle.db)).toBe(createRunsRepo(handle.db))
  })

  it('creates concurrent runs in one statement; a key used twice in the batch creates one run', async () => {
    const runs = [
      newRun(),
      newRun({ idempotencyKey: 'k-batch' }),
      newRun({ idempotencyKey: 'k-batch' }),
      newRun({ mode: 'stream', claimBy: { workerId: 'w1', leaseMs: 60_000 } }),
    ]
    const created = await Promise.all(runs.map((r) => repo().create(r)))
    expect(created.map((c) => c?.run.id)).toEqual([runs[0]!.id, runs[1]!.id, undefined, runs[3]!.id])
    expect(new Set(created.filter((c) => c).map((c) => c!.run.createdAt.getTime())).size).toBe(1)
    expect(created[0]).toMatchObject({ run: { status: 'queued', attempt: 0, leaseOwner: null, input: { message: runs[0]!.message } }, started: undefined })
    // The inline run is inserted claimed, with its run.started as event 1.
    expect(created[3]).toMatchObject({
      run: { status: 'running', attempt: 1, leaseOwner: 'w1', lastEventSeq: 1 },
      started: { seq: 1, type: 'run.started', data: { attempt: 1, worker: 'w1' } },
    })
    expect(created[3]!.run.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 50_000)
  })

  it('fails only the bad run of a batch', async () => {
    const good = [newRun(), newRun()]
    const bad = newRun({ mode: 'bogus' as RunMode })
    const results = await Promise.allSettled([repo().create(good[0]!), repo().create(bad), repo().create(good[1]!)])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(await repo().findById(bad.id)).toBeUndefined()
    for (const r of good) expect((await repo().findById(r.id))?.status).toBe('queued')
  })

  it('claims concurrent runs in one statement, each once, with its own run.started', async () => {
    const runs = [newRun(), newRun(), newRun()]
    for (const r of runs) await repo().create(r)
    const [a, b, again, c] = await Promise.all([
      repo().claim(runs[0]!.id, 'w1', 60_000),
      repo().claim(runs[1]!.id, 'w2', 30_000),
      repo().claim(runs[1]!.id, 'w3', 30_000), // a duplicate job for the same run, in the same batch
      repo().claim(runs[2]!.id, 'w1', 60_000),
    ])
    expect(again).toBeUndefined()
    expect([a, b, c].map((x) => [x?.run.id, x?.run.leaseOwner, x?.run.attempt, x?.started.seq, x?.started.data.worker])).toEqual([
      [runs[0]!.id, 'w1', 1, 1, 'w1'],
      [runs[1]!.id, 'w2', 1, 1, 'w2'],
      [runs[2]!.id, 'w1', 1, 1, 'w1'],
    ])
    expect(new Set([a, b, c].map((x) => x!.run.startedAt!.getTime())).size).toBe(1)
    // Claimed runs are no longer queued.
    expect(await repo().claim(runs[0]!.id, 'w9', 60_000)).toBeUndefined()
  })

  it('finishes concurrent runs in one statement, fenced per run', async () => {
    const runs = [newRun(), newRun(), newRun()]
    for (const r of runs) await repo().create(r)
    for (const r of runs) await repo().claim(r.id, 'w1', 60_000)
    // runs[2] is taken over by a second attempt: its first attempt may no longer finish it.
    await rawSql(handle.db).query("update runs set status = 'queued' where id = $1", [runs[2]!.id])
    expect((await repo().claim(runs[2]!.id, 'w2', 60_000))?.run.attempt).toBe(2)
    const done = (text: string) => ({ status: 'completed' as const, output: text, usage: { inputTokens: 1, outputTokens: 2 }, model: 'echo' })
    const terminal = (text: string) => [
      { type: 'agent.text_delta' as const, data: { text } },
      { type: 'run.completed' as const, data: { output: text } },
    ]
    const [a, b, stale, current] = await Promise.all([
      repo().finish(runs[0]!.id, 1, terminal('a'), done('a'), 'msg_a'),
      repo().finish(runs[1]!.id, 1, terminal('b'), done('b'), 'msg_b'),
      repo().finish(runs[2]!.id, 1, terminal('stale'), done('stale'), 'msg_c1'),
      repo().finish(runs[2]!.id, 2, terminal('c'), done('c'), 'msg_c2'),
    ])
    expect(stale).toBeUndefined()
    expect([a, b, current].map((x) => [x?.run.id, x?.run.status, x?.run.output, x?.run.attempt, x?.events.map((e) => `${e.seq}:${e.type}`).join(' ')])).toEqual(
      [
        [runs[0]!.id, 'completed', 'a', 1, '2:agent.text_delta 3:run.completed'],
        [runs[1]!.id, 'completed', 'b', 1, '2:agent.text_delta 3:run.completed'],
        [runs[2]!.id, 'completed', 'c', 2, '3:agent.text_delta 4:run.completed'],
      ],
    )
    expect(new Set([a, b, current].map((x) => x!.run.finishedAt!.getTime())).size).toBe(1)
    expect((await repo().findById(runs[2]!.id))?.output).toBe('c')
  })
})
