import type { ChatMessage, ProviderEvent, ToolSpec } from '@openvesper/core'
import { unsupported } from '../errors.js'
import type { NeutralCall, NeutralResponseFormat, NeutralResult, NeutralToolChoice } from '../neutral.js'
import { toOpenAIFinishReason } from '../stop-reasons.js'
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessageParam, ChatToolCallDelta, CompletionUsage } from './chat.schemas.js'

/** Pure mappers between `/v1/chat/completions` and the neutral request, result and provider events. */

/** The schema fits no tool parameters in; OpenAI treats a function without `parameters` as taking none. */
const NO_PARAMETERS = { type: 'object', properties: {} }

export interface ChatCall extends NeutralCall {
  /** `stream_options.include_usage` on a streamed request: send the final usage chunk. */
  includeUsage: boolean
}

/**
 * A validated chat completions body → the neutral request. Throws `invalid_request` (with `details.param`) for
 * what the schema admits but the gateway does not serve; see the field policy in `chat.schemas.ts`.
 */
export function chatRequestToNeutral(body: ChatCompletionRequest): ChatCall {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw unsupported('n', `only n: 1 is supported (got ${body.n})`)
  if (body.audio || body.modalities?.includes('audio')) throw unsupported(body.audio ? 'audio' : 'modalities', 'audio output is not supported')
  if (body.functions !== undefined) throw unsupported('functions', '`functions` is deprecated and not supported; use `tools`')
  if (body.function_call !== undefined) throw unsupported('function_call', '`function_call` is deprecated and not supported; use `tool_choice`')

  let tools = (body.tools ?? []).map((tool, i): ToolSpec => {
    if (tool.type !== 'function') throw unsupported(`tools[${i}]`, `tools of type '${tool.type}' are not supported; use 'function'`)
    const fn = tool.function
    return { name: fn.name, description: fn.description ?? '', parameters: fn.parameters ?? NO_PARAMETERS }
  })

  let toolChoice: NeutralToolChoice | undefined
  const choice = body.tool_choice
  if (choice === 'auto' || choice === 'none' || choice === 'required') toolChoice = { type: choice }
  else if (choice?.type === 'function') toolChoice = { type: 'tool', name: choice.function.name }
  else if (choice?.type === 'allowed_tools') {
    const allowed = new Set(choice.allowed_tools.tools.map(allowedToolName))
    tools = tools.filter((t) => allowed.has(t.name))
    toolChoice = { type: choice.allowed_tools.mode }
  } else if (choice?.type === 'custom') throw unsupported('tool_choice', 'custom tools are not supported')
  if (toolChoice?.type === 'tool' && !tools.some((t) => t.name === (toolChoice as { name: string }).name)) {
    throw unsupported('tool_choice', `tool_choice names '${toolChoice.name.slice(0, 64)}', which is not in tools`)
  }

  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined
  const stop = body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop
  const responseFormat = toResponseFormat(body.response_format)
  const stream = body.stream === true
  return {
    stream,
    includeUsage: stream && body.stream_options?.include_usage === true,
    request: {
      model: body.model,
      messages: chatMessagesToNeutral(body.messages),
      ...(tools.length > 0 ? { tools } : {}),
      ...(maxTokens === undefined ? {} : { maxTokens }),
      ...(body.temperature === undefined || body.temperature === null ? {} : { temperature: body.temperature }),
      ...(body.top_p === undefined || body.top_p === null ? {} : { topP: body.top_p }),
      ...(stop && stop.length > 0 ? { stop } : {}),
      ...(toolChoice ? { toolChoice } : {}),
      ...(body.parallel_tool_calls === undefined || body.parallel_tool_calls === null ? {} : { parallelToolCalls: body.parallel_tool_calls }),
      ...(responseFormat ? { responseFormat } : {}),
      ...(body.user === undefined || body.user === null ? {} : { user: body.user }),
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(body.seed === undefined || body.seed === null ? {} : { seed: body.seed }),
    },
  }
}

function allowedToolName(tool: Record<string, unknown>): string {
  const fn = tool.function as { name?: unknown } | undefined
  return typeof fn?.name === 'string' ? fn.name : typeof tool.name === 'string' ? tool.name : ''
}

function toResponseFormat(format: ChatCompletionRequest['response_format']): NeutralResponseFormat | undefined {
  if (!format) return undefined
  if (format.type !== 'json_schema') return { type: format.type }
  const spec = format.json_schema
  return {
    type: 'json_schema',
    name: spec.name,
    ...(spec.schema ? { schema: spec.schema } : {}),
    ...(spec.strict === undefined || spec.strict === null ? {} : { strict: spec.strict }),
    ...(spec.description === undefined ? {} : { description: spec.description }),
  }
}

/**
 * Wire messages → neutral messages: `developer` is a system message; content parts are joined (text only);
 * a tool message takes its function name from the assistant tool call it answers.
 */
export function chatMessagesToNeutral(messages: ChatMessageParam[]): ChatMessage[] {
  const callNames = new Map<string, string>()
  return messages.map((message, i) => toNeutralMessage(message, `messages[${i}]`, callNames))
}

function toNeutralMessage(message: ChatMessageParam, at: string, callNames: Map<string, string>): ChatMessage {
  switch (message.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: joinText(message.content) }
    case 'user': {
      if (typeof message.content === 'string') return { role: 'user', content: message.content }
      const texts = message.content.map((part, j) => {
        if (part.type === 'text') return part.text
        throw unsupported(`${at}.content[${j}]`, `content parts of type '${part.type}' are not supported; send text`)
      })
      return { role: 'user', content: texts.join('\n') }
    }
    case 'assistant': {
      if (message.function_call) throw unsupported(`${at}.function_call`, '`function_call` is deprecated and not supported; use `tool_calls`')
      const content =
        message.content === undefined || message.content === null
          ? ''
          : typeof message.content === 'string'
            ? message.content
            : message.content.map((part) => (part.type === 'text' ? part.text : part.refusal)).join('\n')
      const calls = (message.tool_calls ?? []).map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }))
      for (const call of calls) callNames.set(call.id, call.name)
      return calls.length > 0 ? { role: 'assistant', content, toolCalls: calls } : { role: 'assistant', content }
    }
    case 'tool': {
      const name = callNames.get(message.tool_call_id)
      if (name === undefined) {
        throw unsupported(`${at}.tool_call_id`, `tool message answers '${message.tool_call_id.slice(0, 64)}', which no earlier assistant tool_calls entry has`)
      }
      return { role: 'tool', toolCallId: message.tool_call_id, name, content: joinText(message.content) }
    }
    case 'function':
      throw unsupported(`${at}.role`, "messages with role 'function' are deprecated and not supported; use 'tool'")
  }
}

function joinText(content: string | { text: string }[]): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('\n')
}

/** Identity of one completion on the wire; the route supplies it (ids and clocks are not pure). */
export interface ChatCompletionMeta {
  /** `chatcmpl-…` */
  id: string
  /** The `model` to report: what the client asked for. */
  model: string
  /** Unix seconds. */
  created: number
}

export function toCompletionUsage(usage: NeutralResult['usage']): CompletionUsage {
  return { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens }
}

/** A finished call → the non-streaming `chat.completion` object. */
export function neutralToChatCompletion(result: NeutralResult, meta: ChatCompletionMeta): ChatCompletion {
  const hasCalls = result.toolCalls.length > 0
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: hasCalls && result.text === '' ? null : result.text,
          refusal: null,
          ...(hasCalls
            ? { tool_calls: result.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
            : {}),
        },
        logprobs: null,
        finish_reason: toOpenAIFinishReason(result.stopReason),
      },
    ],
    usage: toCompletionUsage(result.usage),
  }
}

export interface ChatChunkEncoder {
  /** The first chunk (`delta: { role: 'assistant', content: '' }`); sent once, before any content. */
  start(): ChatCompletionChunk[]
  /** The chunks one provider event becomes (the role chunk first if `start` was not called). */
  push(event: ProviderEvent): ChatCompletionChunk[]
}

/**
 * Neutral provider events → `chat.completion.chunk`s, as OpenAI streams them: the role chunk, content deltas,
 * each tool call as a header delta (`index`, `id`, `type`, `function.name`, empty arguments) followed by its
 * arguments, a chunk with the `finish_reason` and an empty delta, and with `includeUsage` (where every chunk
 * carries `usage: null`) a last chunk with `choices: []` and the usage. The route writes `data: [DONE]` after.
 */
export function createChatChunkEncoder(meta: ChatCompletionMeta & { includeUsage: boolean }): ChatChunkEncoder {
  let started = false
  let toolIndex = 0
  const chunk = (
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finishReason: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
  ): ChatCompletionChunk => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(meta.includeUsage ? { usage: null } : {}),
  })
  const start = (): ChatCompletionChunk[] => {
    if (started) return []
    started = true
    return [chunk({ role: 'assistant', content: '', refusal: null })]
  }
  return {
    start,
    push(event) {
      const out = start()
      switch (event.type) {
        case 'text_delta':
          if (event.text !== '') out.push(chunk({ content: event.text }))
          break
        case 'tool_call': {
          const index = toolIndex++
          const header: ChatToolCallDelta = { index, id: event.call.id, type: 'function', function: { name: event.call.name, arguments: '' } }
          out.push(chunk({ tool_calls: [header] }))
          if (event.call.arguments !== '') out.push(chunk({ tool_calls: [{ index, function: { arguments: event.call.arguments } }] }))
          break
        }
        case 'done':
          out.push(chunk({}, toOpenAIFinishReason(event.stopReason)))
          if (meta.includeUsage) {
            out.push({
              id: meta.id,
              object: 'chat.completion.chunk',
              created: meta.created,
              model: meta.model,
              choices: [],
              usage: toCompletionUsage(event.usage),
            })
          }
          break
      }
      return out
    },
  }
}
