import type { EventItem, ProviderEvent, Usage } from '@openvesper/core'

/**
 * Run events → what the wire encoders consume, for a `model` naming an agent: the run's text deltas stream as
 * `text_delta`s and its terminal event ends the stream. Tools the gateway executes stay inside the run (their
 * `agent.tool_request` / `agent.tool_result` events are not client tool calls and map to nothing). A failed or
 * cancelled run is reported so the route can end the stream with the surface's error shape.
 */
export type RunStreamEvent = ProviderEvent | { type: 'failed'; reason: string; message: string } | { type: 'cancelled'; reason: string }

export function fromRunEvent(event: Pick<EventItem, 'type' | 'data'>): RunStreamEvent | undefined {
  const data = event.data
  switch (event.type) {
    case 'agent.text_delta':
      return typeof data.text === 'string' && data.text !== '' ? { type: 'text_delta', text: data.text } : undefined
    case 'run.completed':
      return { type: 'done', stopReason: 'end_turn', usage: toUsage(data.usage) }
    case 'run.failed':
      return { type: 'failed', reason: stringOr(data.reason, 'internal'), message: stringOr(data.message, 'the run failed') }
    case 'run.cancelled':
      return { type: 'cancelled', reason: stringOr(data.reason, 'cancelled') }
    default:
      return undefined
  }
}

function toUsage(value: unknown): Usage {
  const usage = (value ?? {}) as { inputTokens?: unknown; outputTokens?: unknown }
  return {
    inputTokens: typeof usage.inputTokens === 'number' ? usage.inputTokens : 0,
    outputTokens: typeof usage.outputTokens === 'number' ? usage.outputTokens : 0,
  }
}

const stringOr = (value: unknown, fallback: string) => (typeof value === 'string' && value !== '' ? value : fallback)
