import type { Db, RunRow, RunUsage } from '@openvesper/db'
import { newId, storableText } from '@openvesper/shared'
import { contextWindowOf, createSessionsRepo, estimateMessageTokens, fitToBudget, PROMPT_SHARE } from '@openvesper/sessions'
import type { AgentDefinition } from '../agents.js'
import { gateStep, loadResume, pauseAtGate, resumeGatedStep } from '../approvals/gate.js'
import { type ModelRef, parseModelRef } from '../providers/index.js'
import { type ChatMessage, ProviderError, type StopReason, type ToolCall } from '../providers/types.js'
import { collectContext } from './context.js'
import type { RunDeps } from './deps.js'
import type { EventItem, Fence, RunEvent } from './event-types.js'
import { createEventWriter, type EventWriter } from './run-writer.js'
import { createRunsRepo, type FinishFields, type HistoryEntry } from './runs.repo.js'
import { RunStopped, type StopCause } from './stop.js'
import { createToolLedger } from './tool-ledger.js'

export type ExecuteOutcome = 'completed' | 'failed' | 'cancelled' | 'released' | 'lost' | 'paused'
export interface ExecuteResult {
  outcome: ExecuteOutcome
  /** The ended run, when this executor finished it (completed or failed). */
  run?: RunRow
}

/** The model an agent's runs use, and its name as runs and events show it (`provider/model`, `echo` offline). */
export function agentModel(agent: Pick<AgentDefinition, 'model'>, defaultModel: string): { ref: ModelRef; name: string } {
  const ref = parseModelRef(agent.model ?? defaultModel)
  return { ref, name: ref.provider === 'echo' ? 'echo' : `${ref.provider}/${ref.model}` }
}

/** What the statement that claimed the attempt already did: its run.started event and, inline, the transcript. */
export interface ClaimedAttempt {
  started: RunEvent
  /** The session's transcript before this run (inline runs get it from the create statement). */
  history?: HistoryEntry[]
  /** Messages steered into the run while it executes (queue mode `steer`), taken before each model call. */
  inbox?: SteerInbox
}

/** A steered message: already in the session's transcript (its id), delivered to the model at the next step. */
export interface SteeredMessage {
  id: string
  text: string
}

export interface SteerInbox {
  push(message: SteeredMessage): void
  /** The messages pushed since the last take, in order. */
  take(): SteeredMessage[]
}

export function createSteerInbox(): SteerInbox {
  let pending: SteeredMessage[] = []
  return {
    push: (message) => void pending.push(message),
    take() {
      const taken = pending
      pending = []
      return taken
    },
  }
}

/**
 * Executes one claimed attempt of a run: the turn loop (model call → tool calls → model call …) up to
 * the step limit. Never writes to an HTTP response: every event goes to the run's log and the bus.
 * Every write is fenced on the attempt, so a superseded executor cannot overwrite a newer result.
 */
export async function executeRun(deps: RunDeps, run: RunRow, controller: AbortController, attempt: ClaimedAttempt): Promise<ExecuteResult> {
  const { db, log } = deps
  const repo = createRunsRepo(db)
  const fence: Fence = { attempt: run.attempt }
  const signal = controller.signal
  const rlog = log.child({ runId: run.id, attempt: run.attempt })

  const renew = setInterval(
    () => {
      repo
        .renewLease(run.id, run.attempt, deps.options.leaseMs)
        .then((held) => {
          if (!held && !signal.aborted) controller.abort(new RunStopped({ kind: 'lease_lost' }))
        })
        .catch((err) => rlog.warn({ err: (err as Error).message }, 'lease renewal failed'))
    },
    Math.max(250, Math.floor(deps.options.leaseMs / 3)),
  )

  const writer = createEventWriter(deps, run.id, fence, [attempt.started])
  const emit = async (type: RunEvent['type'], data: Record<string, unknown>) => {
    if (signal.aborted) throw signal.reason
    await writer.emit(type, data)
  }

  const usage: RunUsage = { inputTokens: 0, outputTokens: 0 }
  let modelName: string | null = null
  /** Text of the current model call: the partial output kept when the run fails mid-call. */
  let text = ''
  const ended = (outcome: 'completed' | 'failed', final: RunRow | undefined): ExecuteResult => (final ? { outcome, run: final } : { outcome: 'lost' })
  const fail = async (reason: string, message: string, partial: string): Promise<ExecuteResult> =>
    ended('failed', await finish(deps, run, fence, writer, { status: 'failed', reason, message, output: partial || null, usage, model: modelName }))
  try {
    const agent = deps.agents.get(run.agentId)
    const { ref, name } = agentModel(agent, deps.defaultModel)
    modelName = name
    const provider = deps.providers.get(ref.provider)
    const toolSpecs = deps.tools.specs(agent.tools)
    const resume = await loadResume(deps, run) // a run re-claimed after an approval gate: its state so far
    if (resume) Object.assign(usage, resume.usage)
    const messages = resume ? (resume.messages as ChatMessage[]) : await buildMessages(db, run, agent.systemPrompt, attempt.history)
    if (!resume) {
      await injectContext(deps, run, messages, signal, emit)
      await boundContext(messages, contextWindowOf(modelName, agent.contextWindow).tokens, emit)
    }
    const maxSteps = Math.min(agent.maxSteps ?? deps.options.maxSteps, deps.options.maxSteps)

    /** Steered messages go to the model as user turns before its next call; the run's events show each one. */
    const deliver = async (steered: SteeredMessage[]) => {
      for (const m of steered) {
        messages.push({ role: 'user', content: m.text })
        await emit('agent.steered', { text: m.text, message_id: m.id })
      }
    }

    if (resume) await resumeGatedStep(deps, run, resume, messages, emit, (step, call) => runTool(deps, run, step, call, signal, agent.tools))

    for (let step = resume ? resume.step + 1 : 0; step < maxSteps; step++) {
      await deliver(attempt.inbox?.take() ?? [])
      text = ''
      const calls: ToolCall[] = []
      let stopReason: StopReason = 'end_turn'
      for await (const ev of provider.stream({ model: ref.model, messages, tools: toolSpecs.length ? toolSpecs : undefined, signal })) {
        if (ev.type === 'text_delta') {
          const delta = storableText(ev.text)
          text += delta
          await emit('agent.text_delta', { text: delta })
        } else if (ev.type === 'tool_call') {
          calls.push({ id: storableText(ev.call.id), name: storableText(ev.call.name), arguments: storableText(ev.call.arguments) })
        } else {
          stopReason = ev.stopReason
          if (ev.usage.estimated || ev.usage.inputTokens + ev.usage.outputTokens === 0) {
            // No usage from the provider: a tokenizer's estimate, marked as one.
            usage.inputTokens += messages.reduce((n, m) => n + estimateMessageTokens(m.content), 0)
            usage.outputTokens += estimateMessageTokens(text + calls.map((c) => c.name + c.arguments).join(''))
            usage.estimated = true
          } else {
            usage.inputTokens += ev.usage.inputTokens
            usage.outputTokens += ev.usage.outputTokens
          }
        }
      }
      if (text) await emit('agent.text', { text })
      if (calls.length === 0) {
        // A message steered in during this call is answered by another step, not left for the next run.
        const late = step + 1 < maxSteps ? (attempt.inbox?.take() ?? []) : []
        if (late.length > 0) {
          messages.push({ role: 'assistant', content: text })
          await deliver(late)
          continue
        }
        await emit('agent.turn_complete', { stop_reason: stopReason, model: modelName, usage })
        return ended('completed', await finish(deps, run, fence, writer, { status: 'completed', output: text, usage, model: modelName }))
      }
      messages.push({ role: 'assistant', content: text, toolCalls: calls })
      const gate = await gateStep(deps, run, calls, agent)
      if (gate.paused) return (await pauseAtGate(deps, run, fence, writer, step, messages, gate, usage)) ? { outcome: 'paused' } : { outcome: 'lost' }
      await emit('agent.tool_request', { tool_calls: calls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })) })
      for (const call of calls) {
        const result = gate.refusal(call) ?? (await runTool(deps, run, step, call, signal, agent.tools))
        await emit('agent.tool_result', { tool_use_id: call.id, tool_name: call.name, content: result.content, is_error: result.isError })
        messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: result.content, isError: result.isError })
      }
    }
    // The last call asked for tools: its text went to the model as the assistant turn, not as an answer.
    return await fail('step_limit_exceeded', `the agent did not finish within ${maxSteps} model calls`, '')
  } catch (err) {
    const stop = err instanceof RunStopped ? err : signal.reason instanceof RunStopped ? signal.reason : undefined
    if (stop) return { outcome: await handleStop(deps, run, stop.stop) }
    if (err instanceof ProviderError) {
      rlog.warn({ reason: err.reason, status: err.options.status }, 'provider call failed')
      return await fail(err.reason, err.message, text)
    }
    if ((err as { code?: string }).code === 'not_found') return await fail('agent_not_found', (err as Error).message, text)
    rlog.error({ err }, 'run failed unexpectedly')
    return await fail('internal', 'internal error while executing the run', text)
  } finally {
    clearInterval(renew)
    void writer.close() // a stopped run's unsent events would be refused by the fence anyway
  }
}

async function handleStop(deps: RunDeps, run: RunRow, cause: StopCause): Promise<ExecuteOutcome> {
  switch (cause.kind) {
    case 'cancelled':
      return 'cancelled'
    case 'lease_lost':
      return 'lost'
    case 'client_gone':
      await cancelRun(deps, run.id, 'client_disconnected')
      return 'cancelled'
    case 'shutdown':
      return (await createRunsRepo(deps.db).release(run.id, run.attempt)) ? 'released' : 'lost'
  }
}

/**
 * Any active status → cancelled, with its terminal event in the same statement (followers always end);
 * published after. False when the run had already ended.
 */
export async function cancelRun(deps: Pick<RunDeps, 'db' | 'events'>, runId: string, reason: string): Promise<boolean> {
  const terminal = await createRunsRepo(deps.db).cancel(runId, reason)
  if (!terminal) return false
  await deps.events.publish(terminal)
  return true
}

/**
 * Fenced finalisation in one statement: the status, the events still pending, the terminal event and (completed,
 * in a session) the assistant's transcript entry commit together; published after (not awaited). The ended run, or `undefined`
 * when this executor lost the run.
 */
async function finish(deps: RunDeps, run: RunRow, fence: Fence, writer: EventWriter, result: FinishFields): Promise<RunRow | undefined> {
  const pending = await writer.close()
  const completed = result.status === 'completed'
  const terminal: EventItem = completed
    ? { type: 'run.completed', data: { output: result.output, usage: result.usage, model: result.model } }
    : { type: 'run.failed', data: { reason: result.reason, message: result.message, output: result.output, partial: result.output !== null } }
  const finished = await createRunsRepo(deps.db).finish(run.id, fence.attempt, [...pending, terminal], result, newId('message'))
  // Not awaited: the run is durably finished; followers get the events from the bus or, if it fails, the log.
  void writer.publish(finished?.events ?? [])
  return finished?.run
}

/**
 * The conversation the model sees: system prompt, then the session's transcript (or just this message).
 * `history` (inline runs) is the transcript before this run's message, read by the create statement.
 */
async function buildMessages(db: Db, run: RunRow, systemPrompt: string | undefined, history: HistoryEntry[] | undefined): Promise<ChatMessage[]> {
  const messages: ChatMessage[] = systemPrompt ? [{ role: 'system', content: systemPrompt }] : []
  if (!run.sessionId) {
    messages.push({ role: 'user', content: run.input.message })
    return messages
  }
  const transcript: HistoryEntry[] = history
    ? [...history, { role: 'user', content: { text: run.input.message }, runId: run.id }]
    : (await createSessionsRepo(db).contextTranscript(run.sessionId)).map((m) => ({
        role: m.role,
        content: m.content as HistoryEntry['content'],
        runId: m.runId,
      }))
  for (const m of transcript) {
    // This run's own user message is in the transcript; its assistant reply is written only when it finishes.
    if (m.role === 'user') messages.push({ role: 'user', content: m.content.text ?? '' })
    else if (m.role === 'assistant' && m.runId !== run.id) messages.push({ role: 'assistant', content: m.content.text ?? '' })
  }
  return messages
}

/**
 * What a turn sends is bounded whatever the history: the system messages and the newest message always, then the
 * newest history that fits PROMPT_SHARE of the model's window; the event says how much was left out.
 */
async function boundContext(
  messages: ChatMessage[],
  window: number,
  emit: (type: 'agent.context_truncated', data: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  const firstHistory = messages.findIndex((m) => m.role !== 'system')
  if (firstHistory < 0 || firstHistory >= messages.length - 1) return
  const fixed = [...messages.slice(0, firstHistory), messages.at(-1)!]
  const budget = Math.floor(window * PROMPT_SHARE) - fixed.reduce((n, m) => n + estimateMessageTokens(m.content), 0)
  const history = messages.slice(firstHistory, -1).map((m) => ({ m, text: m.content }))
  const { kept, omitted, tokens } = fitToBudget(history, Math.max(0, budget))
  if (omitted === 0) return
  // A tool result never opens the context without the assistant turn that asked for it.
  let start = 0
  while (kept[start]?.m.role === 'tool') start++
  messages.splice(firstHistory, history.length, ...kept.slice(start).map((k) => k.m))
  await emit('agent.context_truncated', { messages_omitted: omitted + start, tokens_kept: tokens, context_window: window })
}

/** The context sources' blocks go after the system prompt, as system messages; the event records their refs. */
async function injectContext(
  deps: RunDeps,
  run: RunRow,
  messages: ChatMessage[],
  signal: AbortSignal,
  emit: (type: 'agent.context_injected', data: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  if (deps.contextSources.length === 0) return
  const request = { runId: run.id, principalId: run.principalId, agentId: run.agentId, sessionId: run.sessionId, message: run.input.message, signal }
  const blocks = await collectContext(deps.contextSources, request, (source, err) =>
    deps.log.warn({ runId: run.id, source, err: err.message }, 'context source failed; the run goes on without it'),
  )
  if (blocks.length === 0) return
  const at = messages[0]?.role === 'system' ? 1 : 0
  messages.splice(at, 0, ...blocks.map((b): ChatMessage => ({ role: 'system', content: b.text })))
  await emit('agent.context_injected', { blocks: blocks.map((b) => ({ source: b.source, refs: b.refs ?? [] })) })
}

/**
 * Runs one tool call at most once per (run, step, tool call id): the ledger row is written before the
 * tool runs, so a re-executed run reuses a finished result and never repeats a call whose outcome was lost.
 */
async function runTool(
  deps: RunDeps,
  run: RunRow,
  step: number,
  call: ToolCall,
  signal: AbortSignal,
  allowed: readonly string[],
): Promise<{ content: string; isError: boolean }> {
  const ledger = createToolLedger(deps.db)
  const tool = allowed.includes(call.name) ? deps.tools.get(call.name) : undefined
  const key = { runId: run.id, step, toolCallId: call.id }
  const existing = await ledger.find(key)
  if (existing) {
    if (existing.status !== 'started') return { content: existing.result ?? '', isError: existing.isError }
    if (tool?.sideEffects) return { content: `tool '${call.name}' was interrupted by a worker loss and is not repeated; its outcome is unknown`, isError: true }
  }
  let args: Record<string, unknown> = {}
  let content: string
  let isError = false
  try {
    args = call.arguments.trim() ? (JSON.parse(call.arguments) as Record<string, unknown>) : {}
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new Error('arguments must be a JSON object')
  } catch (err) {
    return { content: `invalid tool arguments: ${(err as Error).message}`, isError: true }
  }
  if (!tool) return { content: `tool '${call.name}' is not available to this agent`, isError: true }
  if (!existing) await ledger.start(key, { name: call.name, arguments: call.arguments, args })
  try {
    const ctx = { runId: run.id, principalId: run.principalId, agentId: run.agentId, sessionId: run.sessionId, signal, now: () => deps.clock.now() }
    content = storableText(await tool.execute(args, ctx))
  } catch (err) {
    if (signal.aborted) throw signal.reason
    content = storableText(`tool error: ${(err as Error).message}`)
    isError = true
  }
  await ledger.complete(key, { content, isError })
  return { content, isError }
}
