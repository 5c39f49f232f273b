/**
 * Prompt assembly's extension point: packages that feed a run's context (memory top-k, standing orders, agent
 * context documents) implement `ContextSource`; the composition root hands them to core, so core never imports
 * them. Sources run in the order given, before the first model call of an attempt; each block becomes a system
 * message after the agent's system prompt, and the run's `agent.context_injected` event records what was added.
 */
export interface ContextRequest {
  runId: string
  principalId: string
  agentId: string
  /** The session the run belongs to, when it has one. */
  sessionId: string | null
  /** The user message that started the run. */
  message: string
  signal: AbortSignal
}

export interface ContextBlock {
  /** The source's name, as the event shows it (e.g. `memory`, `standing_orders`). */
  source: string
  /** Text the model receives as a system message. */
  text: string
  /** What the block was made from (entry ids, order ids): recorded in the event, never sent to the model. */
  refs?: string[]
}

export interface ContextSource {
  name: string
  collect(request: ContextRequest): Promise<ContextBlock[]>
}

/** The blocks of every source, in order; a failing source is reported and skipped, it never fails the run. */
export async function collectContext(
  sources: readonly ContextSource[],
  request: ContextRequest,
  onError: (source: string, err: Error) => void,
): Promise<ContextBlock[]> {
  const blocks: ContextBlock[] = []
  for (const source of sources) {
    try {
      blocks.push(...(await source.collect(request)))
    } catch (err) {
      if (request.signal.aborted) throw request.signal.reason
      onError(source.name, err as Error)
    }
  }
  return blocks.filter((b) => b.text.trim() !== '')
}
