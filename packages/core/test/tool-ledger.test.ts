import { createHash } from 'node:crypto'
import { type DbHandle, rawSql } from '@openvesper/db'
import { createInProcessEventBus, createInProcessQueue, createJobProducer } from '@openvesper/queue'
import { silentLogger, systemClock } from '@openvesper/shared'
import { type FakeUpstream, openTestPostgres, startFakeUpstream, type TestPostgres } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgentRegistry } from '../src/agents.js'
import { coreJobs } from '../src/jobs.js'
import { createProviderRegistry, type ProviderRegistry } from '../src/providers/index.js'
import type { ContextSource } from '../src/runs/context.js'
import type { RunDeps } from '../src/runs/deps.js'
import { createRunEvents } from '../src/runs/events.js'
import { executeRun } from '../src/runs/execute-run.js'
import { createRunsRepo } from '../src/runs/runs.repo.js'
import { createToolLedger, type ToolCallKey } from '../src/runs/tool-ledger.js'
import { createToolRegistry, type Tool } from '../src/tools/registry.js'

describe('tool-call ledger', () => {
  let pg: TestPostgres
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
    rawSql(handle.db).query<{
      step: number
      tool_call_id: string
      name: string
      args_hash: string
      args: unknown
      status: string
      result: string | null
      is_error: boolean
    }>('select step, tool_call_id, name, args_hash, args, status, result, is_error from tool_calls where run_id = $1 order by step, tool_call_id', [runId])

  beforeAll(async () => {
    pg = await openTestPostgres()
    handle = pg.handle
  })
  afterAll(() => pg.close())

  it('finds nothing for a call it never recorded', async () => {
    const runId = await newRun()
    expect(await createToolLedger(handle.db).find({ runId, step: 0, toolCallId: 'call_none' })).toBeUndefined()
  })

  it('records a started call with its name, parsed arguments and the hash of the raw arguments', async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 0, toolCallId: 'call_1' }
    const ledger = createToolLedger(handle.db)
    await ledger.start(key, { name: 'current_time', arguments: '{"tz":"UTC"}', args: { tz: 'UTC' } })
    expect(await ledger.find(key)).toMatchObject({
      ...key,
      name: 'current_time',
      args: { tz: 'UTC' },
      argsHash: sha256('{"tz":"UTC"}'),
      status: 'started',
      result: null,
      isError: false,
    })
  })

  it('starts a call once: a second start of the same key neither fails nor changes the row', async () => {
    const runId = await newRun()
    const key: ToolCallKey = { runId, step: 1, toolCallId: 'call_twice' }
    const ledger = createToolLedger(handle.db)
    await ledger.start(key, { name: 'first', arguments: '{}', args: {} })
    await ledger.complete(key, { content: 'done', isError: false })
    await ledger.start(key, { name: 'second', arguments: '{"x":1}', args: { x: 1 } })
    expect(await rows(runId)).toEqual([
      { step: 1, tool_call_id: 'call_twice', name: 'first', args_hash: sha256('{}'), args: {}, status: 'succeeded', result: 'done', is_error: false },
    ])
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

/** The executor consults the ledger before every tool call: what a lost attempt finished is not done again. */
describe('tool calls of a re-executed attempt', () => {
  let pg: TestPostgres
  let handle: DbHandle
  let up: FakeUpstream
  let providers: ProviderRegistry
  let n = 0
  const executions: string[] = []
  const tool = (name: string, sideEffects: boolean): Tool => ({
    name,
    description: name,
    parameters: { type: 'object', properties: {} },
    sideEffects,
    async execute(_args, ctx) {
      executions.push(`${name}@${ctx.runId}`)
      return `${name} ran`
    },
  })
  const deps = (contextSources: ContextSource[] = []): RunDeps => {
    const bus = createInProcessEventBus()
    return {
      db: handle.db,
      queue: createJobProducer(createInProcessQueue(), coreJobs),
      bus,
      events: createRunEvents({ db: handle.db, bus, log: silentLogger }),
      agents: createAgentRegistry([{ id: 'main', model: 'openai/gpt-test', tools: ['lookup', 'send'] }]),
      tools: createToolRegistry([tool('lookup', false), tool('send', true)]),
      providers,
      contextSources,
      defaultModel: 'echo',
      clock: systemClock,
      log: silentLogger,
      options: {
        leaseMs: 60_000,
        maxAttempts: 2,
        maxSteps: 4,
        staleQueuedMs: 60_000,
        waitTimeoutMaxMs: 60_000,
        sessionQueue: { mode: 'followup', cap: 20, collectDebounceMs: 0 },
      },
      workerId: 'w_ledger',
    }
  }
  /** A run claimed by this worker, as an inline run is (attempt 1, its run.started stored). */
  async function claimed(runId: string, contextSources: ContextSource[] = []) {
    const d = deps(contextSources)
    const created = await createRunsRepo(handle.db).create({
      id: runId,
      principalId: 'prn_ledger',
      agentId: 'main',
      sessionId: null,
      mode: 'sync',
      message: 'go',
      idempotencyKey: null,
      requestId: null,
      claimBy: { workerId: d.workerId, leaseMs: d.options.leaseMs },
    })
    return { d, run: created!.run, started: created!.started! }
  }
  /** Executes the claimed attempt; its outcome and the tool results it emitted. */
  async function execute({ d, run, started }: Awaited<ReturnType<typeof claimed>>) {
    const result = await executeRun(d, run, new AbortController(), { started })
    const events = await d.events.list(run.id, 0)
    return { outcome: result.outcome, results: events.filter((e) => e.type === 'agent.tool_result').map((e) => e.data) }
  }
  const newRunId = () => `run_ledgerx${(n++).toString().padStart(5, '0')}`

  beforeAll(async () => {
    pg = await openTestPostgres()
    handle = pg.handle
    up = await startFakeUpstream()
    providers = createProviderRegistry({ openai: { baseUrl: `${up.url}/v1`, apiKey: 'sk-test', timeoutMs: 10_000 }, retry: { maxRetries: 0, maxDelayMs: 0 } })
  })
  afterAll(async () => {
    await providers?.close()
    await up?.close()
    await pg?.close()
  })

  it('runs a new call once and records its result', async () => {
    up.reset()
    up.enqueue({ toolCalls: [{ id: 'call_a', name: 'lookup', arguments: {} }] }, { text: 'done' })
    const runId = newRunId()
    const { outcome, results } = await execute(await claimed(runId))
    expect(outcome).toBe('completed')
    expect(executions.filter((e) => e.endsWith(runId))).toEqual([`lookup@${runId}`])
    expect(results).toEqual([{ tool_use_id: 'call_a', tool_name: 'lookup', content: 'lookup ran', is_error: false }])
    expect(await createToolLedger(handle.db).find({ runId, step: 0, toolCallId: 'call_a' })).toMatchObject({ status: 'succeeded', result: 'lookup ran' })
  })

  it('reuses the result an earlier attempt recorded instead of running the tool again', async () => {
    up.reset()
    up.enqueue({ toolCalls: [{ id: 'call_b', name: 'lookup', arguments: {} }] }, { text: 'done' })
    const runId = newRunId()
    const attempt = await claimed(runId)
    // What the earlier, lost attempt left in the ledger for the same step and call id.
    const key = { runId, step: 0, toolCallId: 'call_b' }
    await createToolLedger(handle.db).start(key, { name: 'lookup', arguments: '{}', args: {} })
    await createToolLedger(handle.db).complete(key, { content: 'recorded earlier', isError: false })
    const { outcome, results } = await execute(attempt)
    expect(outcome).toBe('completed')
    expect(executions.filter((e) => e.endsWith(runId))).toEqual([])
    expect(results).toEqual([{ tool_use_id: 'call_b', tool_name: 'lookup', content: 'recorded earlier', is_error: false }])
  })

  it('does not repeat a side-effecting call whose outcome was lost', async () => {
    up.reset()
    up.enqueue({ toolCalls: [{ id: 'call_c', name: 'send', arguments: {} }] }, { text: 'done' })
    const runId = newRunId()
    const attempt = await claimed(runId)
    await createToolLedger(handle.db).start({ runId, step: 0, toolCallId: 'call_c' }, { name: 'send', arguments: '{}', args: {} })
    const { results } = await execute(attempt)
    expect(executions.filter((e) => e.endsWith(runId))).toEqual([])
    expect(results).toEqual([{ tool_use_id: 'call_c', tool_name: 'send', content: expect.stringContaining('not repeated'), is_error: true }])
    expect(await createToolLedger(handle.db).find({ runId, step: 0, toolCallId: 'call_c' })).toMatchObject({ status: 'started' })
  })

  it('puts context sources after the system prompt, records their refs, and skips a source that fails', async () => {
    up.reset()
    up.enqueue({ text: 'done' })
    const sources: ContextSource[] = [
      { name: 'broken', collect: async () => Promise.reject(new Error('index offline')) },
      { name: 'memory', collect: async (r) => [{ source: 'memory', text: `remembered for ${r.agentId}: likes tea`, refs: ['mem_1'] }] },
      { name: 'empty', collect: async () => [{ source: 'empty', text: '  ' }] },
    ]
    const runId = newRunId()
    const attempt = await claimed(runId, sources)
    const result = await executeRun(attempt.d, attempt.run, new AbortController(), { started: attempt.started })
    expect(result.outcome).toBe('completed')
    expect(up.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'remembered for main: likes tea' },
      { role: 'user', content: 'go' },
    ])
    const injected = (await attempt.d.events.list(runId, 0)).filter((e) => e.type === 'agent.context_injected')
    expect(injected.map((e) => e.data)).toEqual([{ blocks: [{ source: 'memory', refs: ['mem_1'] }] }])
  })
})
