/**
 * The turn loop's approval gates: before a step's tool calls run, the policy decides each (allow, deny, ask). An `ask`
 * pauses the run (awaiting_approval, no lease, its state in a checkpoint); a decision re-queues it and whichever
 * worker claims it resumes from the checkpoint. Used by execute-run.ts through three calls.
 */
import type { CheckpointCall, RunRow, RunUsage } from '@openvesper/db'
import { newId } from '@openvesper/shared'
import { createSessionsRepo } from '@openvesper/sessions'
import type { AgentDefinition } from '../agents.js'
import type { ChatMessage, ToolCall } from '../providers/types.js'
import type { RunDeps } from '../runs/deps.js'
import type { Fence } from '../runs/event-types.js'
import type { EventWriter } from '../runs/run-writer.js'
import { argumentsHash, type Checkpoint, createApprovalsRepo, type NewApproval } from './approvals.repo.js'
import { decideCall, type PolicyVerdict } from './rules.js'

export interface ToolOutcome {
  content: string
  isError: boolean
}

/** The verdict on each call of one step. */
export interface StepGate {
  /** True when a call needs a decision: the run pauses before any call of the step runs. */
  readonly paused: boolean
  readonly calls: CheckpointCall[]
  /** The refusal the model gets for a call the policy denied; undefined when it may run. */
  refusal(call: ToolCall): ToolOutcome | undefined
}

const refusalText = (call: { name: string }, why: string) => `tool call '${call.name}' was refused: ${why}`

const parseArgs = (text: string): Record<string, unknown> | undefined => {
  try {
    const v = text.trim() ? JSON.parse(text) : {}
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Decides a step's calls by the rules (in memory once cached). A call the agent cannot make is left to runTool's refusal. */
export async function gateStep(deps: RunDeps, run: RunRow, calls: readonly ToolCall[], agent: AgentDefinition): Promise<StepGate> {
  const policy = deps.approvals
  const out: CheckpointCall[] = []
  let paused = false
  if (policy) {
    const rules = await policy.rules()
    let sessionKey: string | null | undefined
    for (const call of calls) {
      const tool = agent.tools.includes(call.name) ? deps.tools.get(call.name) : undefined
      const args = tool ? parseArgs(call.arguments) : undefined
      let verdict: PolicyVerdict = { action: 'allow' }
      if (tool && args) {
        if (sessionKey === undefined && rules.some((r) => r.match.sessionKey !== undefined))
          sessionKey = run.sessionId ? ((await createSessionsRepo(deps.db).findById(run.sessionId))?.key ?? null) : null
        verdict = decideCall(
          rules,
          { tool: call.name, risk: tool.risk ?? 'low', agent: run.agentId, sessionKey: sessionKey ?? null, args },
          policy.defaultAction,
        )
      }
      if (verdict.action === 'ask') paused = true
      out.push({ id: call.id, name: call.name, arguments: call.arguments, verdict: verdict.action, ...(verdict.reason ? { reason: verdict.reason } : {}) })
    }
  } else for (const call of calls) out.push({ id: call.id, name: call.name, arguments: call.arguments, verdict: 'allow' })
  const byId = new Map(out.map((c) => [c.id, c]))
  return {
    paused,
    calls: out,
    refusal(call) {
      const c = byId.get(call.id)
      return c?.verdict === 'deny' ? { content: refusalText(call, c.reason ?? 'the tool policy denies it'), isError: true } : undefined
    },
  }
}

/**
 * Pauses at the gate: the pending events, agent.tool_request (each call with its approval id) and approval.requested
 * are stored with the status change, the approvals and the checkpoint in one fenced statement, then published. The
 * caller returns: the run holds no worker, lease or connection until a decision re-queues it.
 */
export async function pauseAtGate(
  deps: RunDeps,
  run: RunRow,
  fence: Fence,
  writer: EventWriter,
  step: number,
  messages: ChatMessage[],
  gate: StepGate,
  usage: RunUsage,
): Promise<boolean> {
  const ttlMs = deps.approvals?.ttlMs ?? 86_400_000
  const approvals: NewApproval[] = []
  for (const c of gate.calls) {
    if (c.verdict !== 'ask') continue
    c.approvalId = newId('approval')
    approvals.push({
      id: c.approvalId,
      kind: 'tool',
      tool_call_id: c.id,
      tool_name: c.name,
      args_hash: argumentsHash(c.arguments),
      arguments: c.arguments,
      expires_ms: ttlMs,
    })
  }
  const expiresAt = new Date(deps.clock.now().getTime() + ttlMs).toISOString()
  const pending = await writer.close()
  const events = [
    ...pending,
    {
      type: 'agent.tool_request' as const,
      data: {
        tool_calls: gate.calls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments, ...(c.approvalId ? { approval_id: c.approvalId } : {}) })),
        approval_required: true,
      },
    },
    {
      type: 'approval.requested' as const,
      data: {
        step,
        approvals: approvals.map((a) => ({
          approval_id: a.id,
          tool_call_id: a.tool_call_id,
          tool_name: a.tool_name,
          args_hash: a.args_hash,
          expires_at: expiresAt,
        })),
      },
    },
  ]
  const stored = await createApprovalsRepo(deps.db).pause({
    runId: run.id,
    attempt: fence.attempt,
    step,
    events,
    approvals,
    messages,
    calls: gate.calls,
    usage,
  })
  if (!stored) return false
  await writer.publish(stored)
  for (const a of approvals)
    void deps.audit
      ?.record({
        principalId: run.principalId,
        action: 'approval.request',
        target: a.id,
        outcome: 'success',
        detail: { runId: run.id, tool: a.tool_name, argsHash: a.args_hash },
      })
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'audit record failed'))
  return true
}

/** A run re-claimed after a pause: where it resumes. Only a run claimed before (attempt > 1) can have one. */
export async function loadResume(deps: RunDeps, run: RunRow): Promise<Checkpoint | undefined> {
  if (run.attempt <= 1) return undefined
  return createApprovalsRepo(deps.db).checkpoint(run.id)
}

/**
 * The gated step of a resumed run: each call runs only if the policy allowed it or its approval was granted for exactly
 * this run, step, call id, tool name and argument hash; otherwise the model gets the refusal. Results go to the
 * transcript (`messages`) and the log, as in the loop.
 */
export async function resumeGatedStep(
  deps: RunDeps,
  run: RunRow,
  resume: Checkpoint,
  messages: ChatMessage[],
  emit: (type: 'agent.tool_result', data: Record<string, unknown>) => Promise<void>,
  runTool: (step: number, call: ToolCall) => Promise<ToolOutcome>,
): Promise<void> {
  const decided = new Map((await createApprovalsRepo(deps.db).forStep(run.id, resume.step)).filter((a) => a.kind === 'tool').map((a) => [a.id, a]))
  for (const c of resume.calls) {
    const call: ToolCall = { id: c.id, name: c.name, arguments: c.arguments }
    let result: ToolOutcome
    if (c.verdict === 'allow') result = await runTool(resume.step, call)
    else if (c.verdict === 'deny') result = { content: refusalText(c, c.reason ?? 'the tool policy denies it'), isError: true }
    else {
      const a = c.approvalId ? decided.get(c.approvalId) : undefined
      const bound =
        a && a.runId === run.id && a.step === resume.step && a.toolCallId === c.id && a.toolName === c.name && a.argsHash === argumentsHash(c.arguments)
      if (bound && a.status === 'allowed') result = await runTool(resume.step, call)
      else if (bound && a.status === 'denied')
        result = { content: refusalText(c, a.reason ? `denied by the approver: ${a.reason}` : 'denied by the approver'), isError: true }
      else result = { content: refusalText(c, 'it was not approved'), isError: true }
    }
    await emit('agent.tool_result', { tool_use_id: c.id, tool_name: c.name, content: result.content, is_error: result.isError })
    messages.push({ role: 'tool', toolCallId: c.id, name: c.name, content: result.content, isError: result.isError })
  }
}
