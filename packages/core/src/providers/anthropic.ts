import { createHttpClient, incompleteStream, parseEventData, trimTrailingSlash, type HttpProvider, type HttpProviderOptions } from './http.js'
import {
  ProviderError,
  type ChatMessage,
  type ChatRequest,
  type ProviderEvent,
  type ProviderFailure,
  type ProviderToolChoice,
  type StopReason,
  type ToolSpec,
  type Usage,
} from './types.js'

/** The Anthropic Messages API provider (`POST {baseUrl}/v1/messages`, always streamed). */

export type AnthropicProviderOptions = HttpProviderOptions

export const ANTHROPIC_VERSION = '2023-06-01'
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096

const LABEL = 'anthropic'

export function createAnthropicProvider(options: AnthropicProviderOptions): HttpProvider {
  const http = createHttpClient(LABEL, options)
  const url = `${trimTrailingSlash(options.baseUrl)}/v1/messages`
  const headers = { 'x-api-key': options.apiKey, 'anthropic-version': ANTHROPIC_VERSION }

  async function* stream(request: ChatRequest): AsyncGenerator<ProviderEvent> {
    const sse = await http.streamEvents({ url, headers, body: toAnthropicRequest(request), signal: request.signal })
    const toolBlocks = new Map<number, { id: string; name: string; json: string; input: unknown }>()
    const usage: Usage = { inputTokens: 0, outputTokens: 0 }
    let stopReason: string | null | undefined
    let stopSequence: string | undefined
    let sawStop = false

    for await (const message of sse.messages) {
      if (sawStop) continue
      const event = parseEventData<AnthropicEvent>(LABEL, message.data)
      switch (event.type) {
        case 'message_start': {
          const u = event.message?.usage
          if (u) {
            usage.inputTokens = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0)
            usage.outputTokens = u.output_tokens ?? 0
          }
          break
        }
        case 'content_block_start': {
          const block = event.content_block
          if (block?.type === 'tool_use') {
            toolBlocks.set(event.index ?? 0, { id: block.id ?? '', name: block.name ?? '', json: '', input: block.input })
          } else if (block?.type === 'text' && block.text) {
            yield { type: 'text_delta', text: block.text }
          }
          break
        }
        case 'content_block_delta': {
          const delta = event.delta
          if (delta?.type === 'text_delta' && delta.text) yield { type: 'text_delta', text: delta.text }
          else if (delta?.type === 'input_json_delta' && delta.partial_json) {
            const block = toolBlocks.get(event.index ?? 0)
            if (block) block.json += delta.partial_json
          }
          break
        }
        case 'content_block_stop': {
          const block = toolBlocks.get(event.index ?? 0)
          if (!block) break
          toolBlocks.delete(event.index ?? 0)
          if (!block.name) {
            throw new ProviderError('upstream_bad_response', `${LABEL} upstream sent a tool_use block without a name`, { retryable: false })
          }
          yield { type: 'tool_call', call: { id: block.id, name: block.name, arguments: toolArguments(block) } }
          break
        }
        case 'message_delta': {
          if (event.delta?.stop_reason !== undefined) stopReason = event.delta.stop_reason
          if (typeof event.delta?.stop_sequence === 'string') stopSequence = event.delta.stop_sequence
          const u = event.usage
          if (u?.output_tokens !== undefined) usage.outputTokens = u.output_tokens
          if (u?.input_tokens !== undefined && u.input_tokens !== null) {
            usage.inputTokens = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0)
          }
          break
        }
        case 'message_stop':
          sawStop = true
          break
        case 'error':
          throw streamedError(event.error)
        default:
          // `ping`, thinking blocks and future event types carry nothing the turn loop needs.
          break
      }
    }
    if (!sawStop && (stopReason === undefined || stopReason === null)) throw incompleteStream(LABEL, sse.receivedAny)
    const done: ProviderEvent = { type: 'done', stopReason: fromAnthropicStopReason(stopReason), usage }
    if (stopReason === 'stop_sequence' && stopSequence !== undefined) done.stopSequence = stopSequence
    yield done
  }

  return { name: 'anthropic', stream, close: () => http.close() }
}

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean }

interface WireMessage {
  role: 'user' | 'assistant'
  content: ContentBlock[]
}

/** Maps a neutral request to the Messages API body (pure; exported for tests). */
export function toAnthropicRequest(request: ChatRequest): Record<string, unknown> {
  const system = request.messages
    .filter((m): m is Extract<ChatMessage, { role: 'system' }> => m.role === 'system')
    .map((m) => m.content)
    .filter((text) => text !== '')
    .join('\n\n')
  return {
    model: request.model,
    max_tokens: request.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
    ...(system ? { system } : {}),
    messages: toAnthropicMessages(request.messages),
    ...(request.tools && request.tools.length > 0 ? { tools: request.tools.map(toAnthropicTool) } : {}),
    ...(request.toolChoice ? { tool_choice: toAnthropicToolChoice(request.toolChoice, request.parallelToolCalls) } : {}),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(request.topK === undefined ? {} : { top_k: request.topK }),
    ...(request.stop && request.stop.length > 0 ? { stop_sequences: request.stop } : {}),
    ...(request.user === undefined ? {} : { metadata: { user_id: request.user } }),
    stream: true,
  }
}

function toAnthropicToolChoice(choice: ProviderToolChoice, parallel: boolean | undefined): Record<string, unknown> {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {}
  switch (choice.type) {
    case 'auto':
      return { type: 'auto', ...disable }
    case 'required':
      return { type: 'any', ...disable }
    case 'tool':
      return { type: 'tool', name: choice.name, ...disable }
    case 'none':
      return { type: 'none' }
  }
}

/** Tool results become `tool_result` blocks in a user turn; consecutive same-role turns are merged. */
export function toAnthropicMessages(messages: ChatMessage[]): WireMessage[] {
  const out: WireMessage[] = []
  for (const message of messages) {
    const wire = toWireMessage(message)
    if (!wire || wire.content.length === 0) continue
    const last = out[out.length - 1]
    if (last && last.role === wire.role) last.content.push(...wire.content)
    else out.push(wire)
  }
  // Anthropic requires a user turn's tool_result blocks to come before its other content.
  for (const message of out) {
    if (message.role !== 'user') continue
    const results = message.content.filter((b) => b.type === 'tool_result')
    if (results.length > 0) message.content = [...results, ...message.content.filter((b) => b.type !== 'tool_result')]
  }
  return out
}

function toWireMessage(message: ChatMessage): WireMessage | undefined {
  switch (message.role) {
    case 'system':
      return undefined
    case 'user':
      return { role: 'user', content: message.content === '' ? [] : [{ type: 'text', text: message.content }] }
    case 'assistant': {
      const content: ContentBlock[] = message.content === '' ? [] : [{ type: 'text', text: message.content }]
      for (const call of message.toolCalls ?? []) content.push({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call.arguments) })
      return { role: 'assistant', content }
    }
    case 'tool':
      return {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: message.toolCallId, content: message.content, ...(message.isError ? { is_error: true } : {}) }],
      }
  }
}

/** Anthropic requires `input` to be an object; unparseable arguments become `{}`. */
function toolInput(argumentsJson: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(argumentsJson)
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

function toolArguments(block: { json: string; input: unknown }): string {
  if (block.json !== '') return block.json
  if (block.input !== null && typeof block.input === 'object') return JSON.stringify(block.input)
  return '{}'
}

function toAnthropicTool(tool: ToolSpec): Record<string, unknown> {
  return { name: tool.name, description: tool.description, input_schema: tool.parameters }
}

/** A Messages API `stop_reason` as the neutral StopReason (also what the Anthropic-compatible surface reads). */
export function fromAnthropicStopReason(stopReason: string | null | undefined): StopReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
    case null:
    case undefined:
      return 'end_turn'
    case 'tool_use':
      return 'tool_use'
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'max_tokens'
    default:
      return 'other'
  }
}

/** An `event: error` inside the stream (e.g. `overloaded_error`). */
function streamedError(error: { type?: string } | undefined): ProviderError {
  const reason: ProviderFailure =
    error?.type === 'rate_limit_error'
      ? 'upstream_rate_limited'
      : error?.type === 'overloaded_error' || error?.type === 'api_error'
        ? 'upstream_unavailable'
        : 'upstream_bad_response'
  const type = typeof error?.type === 'string' && /^[a-z_]{1,64}$/.test(error.type) ? error.type : 'an error'
  return new ProviderError(reason, `${LABEL} upstream reported ${type} in the stream`, {
    retryable: reason !== 'upstream_bad_response',
  })
}

interface AnthropicUsage {
  input_tokens?: number | null
  output_tokens?: number
  cache_creation_input_tokens?: number | null
  cache_read_input_tokens?: number | null
}

interface AnthropicEvent {
  type?: string
  index?: number
  message?: { usage?: AnthropicUsage }
  content_block?: { type?: string; text?: string; id?: string; name?: string; input?: unknown }
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null; stop_sequence?: string | null }
  usage?: AnthropicUsage
  error?: { type?: string; message?: string }
}
