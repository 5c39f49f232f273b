import type { StopReason } from '@openvesper/core'

/**
 * Stop/finish reasons between the neutral `StopReason` and both wire formats, both ways. The neutral set is
 * coarser than either wire format (it has no stop-sequence or content-filter reason), so a round trip keeps the
 * meaning a client acts on: "done", "call the tools", "cut off".
 */

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call'
export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded'

export function toOpenAIFinishReason(reason: StopReason): OpenAIFinishReason {
  switch (reason) {
    case 'end_turn':
    case 'other':
      return 'stop'
    case 'tool_use':
      return 'tool_calls'
    case 'max_tokens':
      return 'length'
  }
}

/** The upstream mapping of core's OpenAI provider: one table for what a `finish_reason` means. */
export { fromOpenAIFinishReason } from '@openvesper/core'

export function toAnthropicStopReason(reason: StopReason): AnthropicStopReason {
  switch (reason) {
    case 'end_turn':
    case 'other':
      return 'end_turn'
    case 'tool_use':
      return 'tool_use'
    case 'max_tokens':
      return 'max_tokens'
  }
}

/** The upstream mapping of core's Anthropic provider: one table for what a `stop_reason` means. */
export { fromAnthropicStopReason } from '@openvesper/core'
