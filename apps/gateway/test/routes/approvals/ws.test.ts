import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { MODES } from '../../support/helpers.js'
import { type ApprovalsFixture, ledger, setRules, startApprovalsFixture, waitStatus } from './fixture.js'

type Message = Record<string, unknown> & { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> }

async function connect(url: string, token: string) {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
  const messages: Message[] = []
  socket.on('message', (d) => messages.push(JSON.parse(d.toString())))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  let nextId = 1
  return {
    messages,
    async call(method: string, params: unknown): Promise<Message> {
      const id = nextId++
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
      return waitFor(() => messages.find((m) => m.id === id), { what: `reply to ${method}` })
    },
    send: (payload: unknown) => socket.send(JSON.stringify(payload)),
    close: () => socket.close(),
  }
}

/** Tool approval over the WebSocket: approval.decide, and seed 002's tool_approval verdicts on the following connection. */
describe.each(MODES)('approvals over /ws (%s mode)', (mode) => {
  let f: ApprovalsFixture
  let wsUrl: string
  beforeAll(async () => {
    f = await startApprovalsFixture(mode)
    wsUrl = `${f.base.replace('http', 'ws')}/ws`
    await setRules(f.admin, [{ match: { tool: 'current_time' }, action: 'ask' }])
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(() => f.up.reset())

  it('tool_approval verdicts on the connection that follows the run: approval.requested, then resolved, the tool runs once', async () => {
    const token = await f.token(['runs:read', 'runs:write', 'approvals:read', 'approvals:write'])
    const ws = await connect(wsUrl, token)
    f.up.enqueue({ toolCalls: [{ id: 'toolu_ws', name: 'current_time', arguments: {} }] }, { text: 'ws done' })
    const started = await ws.call('agent.run', { message: 'time over ws' })
    const runId = started.result!.runId as string
    const requested = await waitFor(() => ws.messages.find((m) => m.method === 'approval.requested' && m.params?.runId === runId), {
      what: 'approval.requested',
    })
    const toolRequest = ws.messages.find((m) => m.method === 'agent.tool_request' && m.params?.runId === runId)!
    const [call] = toolRequest.params!.tool_calls as { id: string; approval_id: string }[]
    expect(call).toMatchObject({ id: 'toolu_ws' })
    expect((requested.params!.approvals as { approval_id: string }[])[0]!.approval_id).toBe(call!.approval_id)

    // A verdict for a call this connection does not follow is refused per entry.
    ws.send({ type: 'tool_approval', verdicts: { toolu_ws: 'allow', toolu_unknown: 'deny' } })
    const result = await waitFor(() => ws.messages.find((m) => m.type === 'tool_approval.result'), { what: 'tool_approval.result' })
    expect(result.results).toEqual([
      { tool_call_id: 'toolu_ws', approvalId: call!.approval_id, status: 'allowed' },
      { tool_call_id: 'toolu_unknown', error: 'not_found' },
    ])
    await waitFor(() => ws.messages.find((m) => m.method === 'run.completed' && m.params?.runId === runId), { timeoutMs: 15_000, what: 'run.completed' })
    const resolved = ws.messages.find((m) => m.method === 'approval.resolved' && m.params?.runId === runId)!
    expect(resolved.params).toMatchObject({ approval_id: call!.approval_id, status: 'allowed' })
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(1)
    ws.close()
  })

  it('approval.decide needs approvals:write; a second decision is an approval_decided error', async () => {
    const principalId = `prn_w${Math.random().toString(36).slice(2, 12)}`
    const runnerToken = await f.token(['runs:read', 'runs:write'], principalId)
    const runner = await connect(wsUrl, runnerToken)
    const approver = await connect(wsUrl, await f.token(['runs:read', 'approvals:write'], principalId))
    f.up.enqueue({ toolCalls: [{ id: 'toolu_d', name: 'current_time', arguments: {} }] }, { text: 'denied ok' })
    const started = await runner.call('agent.run', { message: 'decide over ws' })
    const runId = started.result!.runId as string
    const requested = await waitFor(() => runner.messages.find((m) => m.method === 'approval.requested' && m.params?.runId === runId), {
      what: 'approval.requested',
    })
    const approvalId = (requested.params!.approvals as { approval_id: string }[])[0]!.approval_id
    const forbidden = await runner.call('approval.decide', { approvalId, decision: 'allow' })
    expect(forbidden.error).toMatchObject({ data: { code: 'forbidden' } })
    // The typed message too.
    runner.send({ type: 'tool_approval', verdicts: { toolu_d: 'allow' } })
    const refused = await waitFor(() => runner.messages.find((m) => m.id === null && (m.error as { data?: { code?: string } })?.data?.code === 'forbidden'), {
      what: 'tool_approval refused',
    })
    expect(refused).toBeDefined()
    const ok = await approver.call('approval.decide', { approvalId, decision: 'deny', reason: 'no' })
    expect(ok.result).toMatchObject({ approval: { status: 'denied' }, resumed: true })
    const again = await approver.call('approval.decide', { approvalId, decision: 'allow' })
    expect(again.error).toMatchObject({ data: { code: 'approval_decided' } })
    await waitStatus(f.client(runnerToken), runId, 'completed')
    expect(await ledger(f.t.runtime.db.db, runId)).toHaveLength(0)
    runner.close()
    approver.close()
  })
})
