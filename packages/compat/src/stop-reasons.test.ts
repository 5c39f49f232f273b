import type { StopReason } from '@openvesper/core'
import { describe, expect, it } from 'vitest'
import { fromAnthropicStopReason, fromOpenAIFinishReason, toAnthropicStopReason, toOpenAIFinishReason } from './stop-reasons.js'

describe('stop reasons', () => {
  it('maps neutral reasons to OpenAI finish reasons', () => {
    expect(toOpenAIFinishReason('end_turn')).toBe('stop')
    expect(toOpenAIFinishReason('tool_use')).toBe('tool_calls')
    expect(toOpenAIFinishReason('max_tokens')).toBe('length')
    expect(toOpenAIFinishReason('other')).toBe('stop')
  })

  it('maps OpenAI finish reasons to neutral reasons', () => {
    expect(fromOpenAIFinishReason('stop')).toBe('end_turn')
    expect(fromOpenAIFinishReason('tool_calls')).toBe('tool_use')
    expect(fromOpenAIFinishReason('function_call')).toBe('tool_use')
    expect(fromOpenAIFinishReason('length')).toBe('max_tokens')
    expect(fromOpenAIFinishReason('content_filter')).toBe('other')
    expect(fromOpenAIFinishReason(null)).toBe('end_turn')
  })

  it('maps neutral reasons to Anthropic stop reasons and back', () => {
    expect(toAnthropicStopReason('end_turn')).toBe('end_turn')
    expect(toAnthropicStopReason('tool_use')).toBe('tool_use')
    expect(toAnthropicStopReason('max_tokens')).toBe('max_tokens')
    expect(fromAnthropicStopReason('stop_sequence')).toBe('end_turn')
    expect(fromAnthropicStopReason('refusal')).toBe('other')
    expect(fromAnthropicStopReason('pause_turn')).toBe('other')
    expect(fromAnthropicStopReason('model_context_window_exceeded')).toBe('max_tokens')
  })

  it('keeps "done", "call tools" and "cut off" through a translation between the two wire formats', () => {
    for (const reason of ['end_turn', 'tool_use', 'max_tokens'] as StopReason[]) {
      expect(fromAnthropicStopReason(toAnthropicStopReason(fromOpenAIFinishReason(toOpenAIFinishReason(reason))))).toBe(reason)
      expect(fromOpenAIFinishReason(toOpenAIFinishReason(fromAnthropicStopReason(toAnthropicStopReason(reason))))).toBe(reason)
    }
  })
})
