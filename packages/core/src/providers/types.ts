/**
 * The provider-neutral chat contract the turn loop speaks. Providers map it to and from their wire
 * formats (OpenAI chat completions, Anthropic Messages) and stream it back as `ProviderEvent`s.
 */

export interface ToolCall {
  id: string
  name: string
  /** JSON text of the arguments, exactly as the model produced it. */
  arguments: string
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string; isError?: boolean }

export interface ToolSpec {
  name: string
  description: string
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>
}

export interface ChatRequest {
  /** Model name without the provider prefix (`gpt-4o-mini`). */
  model: string
  messages: ChatMessage[]
  tools?: ToolSpec[]
  maxTokens?: number
  signal: AbortSignal
  /**
   * Options a compat surface's pass-through forwards to the provider (the turn loop sets none): sampling, stop
   * sequences, the tool choice. Each provider maps what its wire format has (`topK`: Anthropic only).
   */
  temperature?: number
  topP?: number
  topK?: number
  stop?: string[]
  toolChoice?: ProviderToolChoice
  parallelToolCalls?: boolean
  /** An end-user id (Anthropic `metadata.user_id`, OpenAI `user`). */
  user?: string
}

/** Which tool the model may or must call (`required`: some tool; OpenAI `required`, Anthropic `any`). */
export type ProviderToolChoice = { type: 'auto' } | { type: 'none' } | { type: 'required' } | { type: 'tool'; name: string }

export interface Usage {
  inputTokens: number
  outputTokens: number
  /** Not counted by a provider (the offline echo model counts words): the executor estimates with a tokenizer. */
  estimated?: boolean
}

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'other'

export type ProviderEvent =
  | { type: 'text_delta'; text: string }
  /** A complete tool call (providers assemble streamed argument fragments before emitting it). */
  | { type: 'tool_call'; call: ToolCall }
  /** `stopSequence`: the stop sequence that ended the answer, when the provider says which (Anthropic). */
  | { type: 'done'; stopReason: StopReason; usage: Usage; stopSequence?: string }

/** Machine-readable reasons a provider call fails; they become the run's failure reason. */
export const PROVIDER_FAILURES = [
  'upstream_rate_limited',
  'upstream_unavailable',
  'upstream_timeout',
  'upstream_auth',
  'upstream_bad_request',
  'upstream_bad_response',
  'upstream_stream_interrupted',
] as const
export type ProviderFailure = (typeof PROVIDER_FAILURES)[number]

export class ProviderError extends Error {
  constructor(
    readonly reason: ProviderFailure,
    message: string,
    readonly options: { status?: number; retryAfterMs?: number; retryable: boolean },
  ) {
    super(message)
    this.name = 'ProviderError'
  }
}

export interface Provider {
  /** `openai`, `anthropic` or `echo`. */
  readonly name: string
  /**
   * Streams one model call. Throws ProviderError; never retries itself (the caller wraps it in
   * `withRetries`). An aborted `signal` stops the upstream request and rejects with the signal's reason.
   */
  stream(request: ChatRequest): AsyncIterable<ProviderEvent>
}
