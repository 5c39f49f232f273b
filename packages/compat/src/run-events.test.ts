import { describe, expect, it } from 'vitest'
import { fromRunEvent } from './run-events.js'

describe('run events → wire encoder input', () => {
  it('streams text deltas and ends with the run usage', () => {
    expect(fromRunEvent({ type: 'agent.text_delta', data: { text: 'Hi' } })).toEqual({ type: 'text_delta', text: 'Hi' })
    expect(fromRunEvent({ type: 'run.completed', data: { output: 'Hi', usage: { inputTokens: 3, outputTokens: 1 }, model: 'echo' } })).toEqual({
      type: 'done',
      stopReason: 'end_turn',
      usage: { inputTokens: 3, outputTokens: 1 },
    })
  })

  it('keeps gateway-side tool calls inside the run', () => {
    expect(fromRunEvent({ type: 'agent.tool_request', data: { tool_calls: [{ id: 'c', name: 'current_time', arguments: '{}' }] } })).toBeUndefined()
    expect(fromRunEvent({ type: 'agent.tool_result', data: { tool_use_id: 'c', content: 'now' } })).toBeUndefined()
    expect(fromRunEvent({ type: 'run.started', data: {} })).toBeUndefined()
  })

  it('reports failed and cancelled runs', () => {
    expect(fromRunEvent({ type: 'run.failed', data: { reason: 'upstream_rate_limited', message: 'slow down' } })).toEqual({
      type: 'failed',
      reason: 'upstream_rate_limited',
      message: 'slow down',
    })
    expect(fromRunEvent({ type: 'run.cancelled', data: { reason: 'client_disconnected' } })).toEqual({ type: 'cancelled', reason: 'client_disconnected' })
  })
})
