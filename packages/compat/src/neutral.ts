import type { ChatMessage, ChatRequest, ProviderEvent, StopReason, ToolCall, Usage } from '@openvesper/core'

/**
 * The provider-neutral side of every mapper: core's `ChatRequest` (minus the abort signal, which the route
 * adds) plus the sampling and tool-choice options both wire formats carry. Core's providers read `model`,
 * `messages`, `tools` and `maxTokens`; the other fields travel with the request so a pass-through or a
 * translated call can honour them, and a run can record them.
 *
 * `model` is the client's string unchanged (an agent id such as `main`, or `provider/model`): resolving it
 * (`parseModelRef`, aliases, agents) is the route's job.
 */
export interface NeutralRequest extends Omit<ChatRequest, 'signal'> {
  temperature?: number
  topP?: number
  /** Anthropic only. */
  topK?: number
  stop?: string[]
  toolChoice?: NeutralToolChoice
  parallelToolCalls?: boolean
  responseFormat?: NeutralResponseFormat
  /** An end-user id (`user` on OpenAI, `metadata.user_id` on Anthropic). */
  user?: string
  metadata?: Record<string, string>
  seed?: number
}

export type NeutralToolChoice =
  | { type: 'auto' }
  | { type: 'none' }
  /** The model must call some tool (OpenAI `required`, Anthropic `any`). */
  | { type: 'required' }
  | { type: 'tool'; name: string }

export type NeutralResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema?: Record<string, unknown>; strict?: boolean; description?: string }

/** What the wire mappers need to know about the request besides the neutral request itself. */
export interface NeutralCall {
  request: NeutralRequest
  stream: boolean
}

/** A finished model call or run, as the non-streaming responses report it. */
export interface NeutralResult {
  text: string
  toolCalls: ToolCall[]
  stopReason: StopReason
  usage: Usage
  /** The stop sequence that ended the answer, when the provider said which. */
  stopSequence?: string
}

/** Folds a provider event stream (core's `ProviderEvent`s) into the result a non-streaming response reports. */
export function collectResult(events: Iterable<ProviderEvent>): NeutralResult {
  let text = ''
  const toolCalls: ToolCall[] = []
  let stopReason: StopReason = 'end_turn'
  let usage: Usage = { inputTokens: 0, outputTokens: 0 }
  let stopSequence: string | undefined
  for (const event of events) {
    switch (event.type) {
      case 'text_delta':
        text += event.text
        break
      case 'tool_call':
        toolCalls.push(event.call)
        break
      case 'done':
        stopReason = event.stopReason
        usage = event.usage
        stopSequence = event.stopSequence
        break
    }
  }
  return { text, toolCalls, stopReason, usage, ...(stopSequence === undefined ? {} : { stopSequence }) }
}

export type { ChatMessage, ProviderEvent, StopReason, ToolCall, Usage }
