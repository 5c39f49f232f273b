import { createHttpClient, incompleteStream, parseEventData, trimTrailingSlash, type HttpProvider, type HttpProviderOptions } from './http.js'
import {
  ProviderError,
  type ChatMessage,
  type ChatRequest,
  type ProviderEvent,
  type ProviderToolChoice,
  type StopReason,
  type ToolCall,
  type ToolSpec,
  type Usage,
} from './types.js'

/** An OpenAI-compatible chat completions provider (`POST {baseUrl}/chat/completions`, always streamed). */

export type OpenAIProviderOptions = HttpProviderOptions

const LABEL = 'openai'

export function createOpenAIProvider(options: OpenAIProviderOptions): HttpProvider {
  const http = createHttpClient(LABEL, options)
  const url = `${trimTrailingSlash(options.baseUrl)}/chat/completions`
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}

  async function* stream(request: ChatRequest): AsyncGenerator<ProviderEvent> {
    const sse = await http.streamEvents({ url, headers, body: toOpenAIRequest(request), signal: request.signal })
    const calls = new Map<number, ToolCall>()
    let finishReason: string | undefined
    let usage: Usage = { inputTokens: 0, outputTokens: 0 }
    let sawDone = false

    for await (const message of sse.messages) {
      if (sawDone) continue
      if (message.data.trim() === '[DONE]') {
        sawDone = true
        continue
      }
      const chunk = parseEventData<OpenAIChunk>(LABEL, message.data)
      if (chunk.error) throw streamedError(chunk.error)
      if (chunk.usage) usage = toUsage(chunk.usage)
      for (const choice of chunk.choices ?? []) {
        if ((choice.index ?? 0) !== 0) continue
        const delta = choice.delta ?? {}
        if (typeof delta.content === 'string' && delta.content !== '') yield { type: 'text_delta', text: delta.content }
        for (const fragment of delta.tool_calls ?? []) {
          const index = fragment.index ?? 0
          const call = calls.get(index) ?? { id: '', name: '', arguments: '' }
          if (fragment.id) call.id = fragment.id
          if (fragment.function?.name && !call.name) call.name = fragment.function.name
          if (fragment.function?.arguments) call.arguments += fragment.function.arguments
          calls.set(index, call)
        }
        if (choice.finish_reason) finishReason = choice.finish_reason
      }
    }
    if (!sawDone && finishReason === undefined) throw incompleteStream(LABEL, sse.receivedAny)

    for (const [index, call] of [...calls.entries()].sort(([a], [b]) => a - b)) {
      if (!call.name) {
        throw new ProviderError('upstream_bad_response', `${LABEL} upstream sent a tool call without a name`, { retryable: false })
      }
      yield { type: 'tool_call', call: { id: call.id || `call_${index}`, name: call.name, arguments: call.arguments || '{}' } }
    }
    yield { type: 'done', stopReason: fromOpenAIFinishReason(finishReason, calls.size > 0), usage }
  }

  return { name: 'openai', stream, close: () => http.close() }
}

/** Maps a neutral request to the chat completions body (pure; exported for tests). */
export function toOpenAIRequest(request: ChatRequest): Record<string, unknown> {
  return {
    model: request.model,
    messages: request.messages.map(toOpenAIMessage),
    ...(request.tools && request.tools.length > 0 ? { tools: request.tools.map(toOpenAITool) } : {}),
    ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
    ...(request.toolChoice ? { tool_choice: toOpenAIToolChoice(request.toolChoice) } : {}),
    ...(request.parallelToolCalls === undefined || !request.tools?.length ? {} : { parallel_tool_calls: request.parallelToolCalls }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
    ...(request.user === undefined ? {} : { user: request.user }),
    stream: true,
    stream_options: { include_usage: true },
  }
}

function toOpenAIMessage(message: ChatMessage): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content }
    case 'assistant': {
      const calls = message.toolCalls ?? []
      if (calls.length === 0) return { role: 'assistant', content: message.content }
      return {
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
      }
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content }
  }
}

function toOpenAIToolChoice(choice: ProviderToolChoice): unknown {
  return choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type
}

function toOpenAITool(tool: ToolSpec): Record<string, unknown> {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters } }
}

/**
 * A chat completion's `finish_reason` as the neutral StopReason (also what the OpenAI-compatible surface reads). Some
 * OpenAI-compatible servers say `stop` (or nothing) after tool calls: `hasToolCalls` then decides.
 */
export function fromOpenAIFinishReason(finishReason: string | null | undefined, hasToolCalls = false): StopReason {
  switch (finishReason ?? undefined) {
    case 'stop':
      return hasToolCalls ? 'tool_use' : 'end_turn'
    case 'tool_calls':
    case 'function_call':
      return 'tool_use'
    case 'length':
      return 'max_tokens'
    case undefined:
      return hasToolCalls ? 'tool_use' : 'end_turn'
    default:
      return 'other'
  }
}

function toUsage(usage: { prompt_tokens?: number; completion_tokens?: number }): Usage {
  return { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 }
}

/** An error object sent inside the stream (some OpenAI-compatible servers do this). */
function streamedError(error: unknown): ProviderError {
  const type = typeof error === 'object' && error !== null ? (error as { type?: unknown; code?: unknown }) : {}
  const rateLimited = type.type === 'rate_limit_error' || type.code === 'rate_limit_exceeded'
  return new ProviderError(rateLimited ? 'upstream_rate_limited' : 'upstream_unavailable', `${LABEL} upstream reported an error in the stream`, {
    retryable: true,
  })
}

interface OpenAIChunk {
  error?: unknown
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null
  choices?: {
    index?: number
    delta?: {
      content?: string | null
      tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[]
    }
    finish_reason?: string | null
  }[]
}
