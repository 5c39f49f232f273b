import { createHash } from 'node:crypto'
import { createDb, type DbHandle, rawSql } from '@openvesper/db'
import { createTestDatabase, type TestDatabase } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunsRepo } from '../src/runs/runs.repo.js'
import { createToolLedger, type ToolCallKey } from '../src/runs/tool-ledger.js'

describe('tool-call ledger', () => {
  let database: TestDatabase
  let handle: DbHandle
  let n = 0
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

  /** A run to hang tool calls on (tool_calls.run_id references runs). */
  async function newRun(): Promise<string> {
    const id = `run_ledger${(n++).toString().padStart(6, '0')}`
    const created = await createRunsRepo(handle.db).create({
      id,
      principalId: 'prn_ledger',
      agentId: 'main',
      sessionId: null,
      mode: 'async',
      message: 'm',
      idempotencyKey: null,
      requestId: null,
    })
    expect(created?.run.id).toBe(id)
    return id
  }
  const rows = (runId: string) =>
    rawSql(handle.db).query<{ step: number; tool_call_id: string; name: string; args_hash: string; args: unknown; status: string; result: string | null; is_error: boolean }>(
      'select step, tool_call_id, name, args_hash, args, status, result, is_error from tool_calls where run_id = $1 order by step, tool_call_id',
      [runId],
    )

  beforeAll(async () => {
    database = await createTestDatabase()
    handle = createDb({ kind: 'postgres', url: database.url, max: 4 })
  })
  afterAll(async () => {
    await handle.close()
    await database.drop()
  })

  it('finds nothing for a call it never recorded', async () => {
    const runId = await newRun()
    expect(await createToolLedger(handle.db).find({ runId, step: 0, toolCallId: 'call_none' })).toBeUndefined()
  })

  it('records a started call with its name, parsed arguments and the hash of the raw arguments', async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 0, toolCallId: 'call_1' }
    const ledger = createToolLedger(handle.db)
    await ledger.start(key, { name: 'current_time', arguments: '{"tz":"UTC"}', args: { tz: 'UTC' } })
    expect(await ledger.find(key)).toMatchObject({ ...key, name: 'current_time', args: { tz: 'UTC' }, argsHash: sha256('{"tz":"UTC"}'), status: 'started', result: null, isError: false })
  })

  it('starts a call once: a second start of the same key neither fails nor changes the row', async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 1, toolCallId: 'call_twice' }
    const ledger = createToolLedger(handle.db)
    await ledger.start(key, { name: 'first', arguments: '{}', args: {} })
    await ledger.complete(key, { content: 'done', isError: false })
    await ledger.start(key, { name: 'second', arguments: '{"x":1}', args: { x: 1 } })
    expect(await rows(runId)).toEqual([{ step: 1, tool_call_id: 'call_twice', name: 'first', args_hash: sha256('{}'), args: {}, status: 'succeeded', result: 'done', is_error: false }])
  })

  it('completes a call with its result: succeeded, or failed when it is an error', async () => {
    const runId = await newRun()
    const ledger = createToolLedger(handle.db)
    const ok: ToolCallKey = { runId, step: 0, toolCallId: 'call_ok' }
    const bad: ToolCallKey = { runId, step: 0, toolCallId: 'call_bad' }
    await ledger.start(ok, { name: 'current_time', arguments: '', args: {} })
    await ledger.start(bad, { name: 'current_time', arguments: '', args: {} })
    await ledger.complete(ok, { content: '2026-01-01T00:00:00.000Z', isError: false })
    await ledger.complete(bad, { content: 'tool error: boom', isError: true })
    expect(await ledger.find(ok)).toMatchObject({ status: 'succeeded', result: '2026-01-01T00:00:00.000Z', isError: false })
    expect(await ledger.find(bad)).toMatchObject({ status: 'failed', result: 'tool error: boom', isError: true })
  })

  it("gives a retried attempt (another executor, another ledger) the finished call's result, and only that call's", async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 2, toolCallId: 'call_retry' }
    const first = createToolLedger(handle.db)
    await first.start(key, { name: 'current_time', arguments: '{}', args: {} })
    await first.complete(key, { content: 'the result', isError: false })

    const retry = createToolLedger(handle.db)
    expect(await retry.find(key)).toMatchObject({ status: 'succeeded', result: 'the result', isError: false })
    // The same call id in another step or another run is a different call.
    expect(await retry.find({ ...key, step: 3 })).toBeUndefined()
    expect(await retry.find({ ...key, runId: await newRun() })).toBeUndefined()
  })

  it('keeps a started call whose outcome was lost as started, so a retry can tell it from a finished one', async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 0, toolCallId: 'call_lost' }
    await createToolLedger(handle.db).start(key, { name: 'side_effect', arguments: '{}', args: {} })
    expect(await createToolLedger(handle.db).find(key)).toMatchObject({ status: 'started', result: null })
  })
})
