import type { ChatMessage, ProviderEvent, ToolCall, ToolSpec } from '@openvesper/core'
import { unsupported } from '../errors.js'
import type { NeutralCall, NeutralRequest, NeutralResult, NeutralToolChoice } from '../neutral.js'
import { toAnthropicStopReason } from '../stop-reasons.js'
import type {
  AnthropicMessage,
  AnthropicTool,
  AnthropicToolChoice,
  ContentBlock,
  CountTokensRequest,
  MessageParam,
  MessagesRequest,
  MessageStreamEvent,
} from './messages.schemas.js'

/** Pure mappers between `/anthropic/v1/messages` and the neutral request, result and provider events. */

type Block = { type: string; [key: string]: unknown }

/** A validated Messages body → the neutral request (throws `invalid_request` with `details.param`, see the schema file). */
export function messagesRequestToNeutral(body: MessagesRequest): NeutralCall {
  const request: NeutralRequest = {
    ...conversationToNeutral(body),
    maxTokens: body.max_tokens,
    ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.top_p === undefined ? {} : { topP: body.top_p }),
    ...(body.top_k === undefined ? {} : { topK: body.top_k }),
    ...(body.stop_sequences && body.stop_sequences.length > 0 ? { stop: body.stop_sequences } : {}),
    ...(typeof body.metadata?.user_id === 'string' ? { user: body.metadata.user_id } : {}),
  }
  return { stream: body.stream === true, request }
}

/** A count_tokens body → the neutral request whose prompt is to be counted (no `maxTokens`). */
export function countTokensRequestToNeutral(body: CountTokensRequest): NeutralRequest {
  return conversationToNeutral(body)
}

function conversationToNeutral(body: CountTokensRequest): NeutralRequest {
  const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((b) => b.text).join('\n\n')
  const tools = (body.tools ?? []).map(toToolSpec)
  const { toolChoice, parallelToolCalls } = toToolChoice(body.tool_choice)
  if (toolChoice?.type === 'tool' && !tools.some((t) => t.name === toolChoice.name)) {
    throw unsupported('tool_choice.name', `tool_choice names '${toolChoice.name.slice(0, 64)}', which is not in tools`)
  }
  return {
    model: body.model,
    messages: [...(system === '' ? [] : [{ role: 'system' as const, content: system }]), ...anthropicMessagesToNeutral(body.messages)],
    ...(tools.length > 0 ? { tools } : {}),
    ...(toolChoice ? { toolChoice } : {}),
    ...(parallelToolCalls === undefined ? {} : { parallelToolCalls }),
  }
}

function toToolSpec(tool: AnthropicTool, i: number): ToolSpec {
  if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
    throw unsupported(`tools[${i}]`, `server tools of type '${String(tool.type).slice(0, 64)}' are not supported; send client tools with input_schema`)
  }
  const custom = tool as { name: string; description?: string; input_schema: Record<string, unknown> }
  return { name: custom.name, description: custom.description ?? '', parameters: custom.input_schema }
}

function toToolChoice(choice: AnthropicToolChoice | undefined): { toolChoice?: NeutralToolChoice; parallelToolCalls?: boolean } {
  if (!choice) return {}
  const parallel =
    'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use !== undefined ? { parallelToolCalls: !choice.disable_parallel_tool_use } : {}
  switch (choice.type) {
    case 'auto':
      return { toolChoice: { type: 'auto' }, ...parallel }
    case 'any':
      return { toolChoice: { type: 'required' }, ...parallel }
    case 'tool':
      return { toolChoice: { type: 'tool', name: choice.name }, ...parallel }
    case 'none':
      return { toolChoice: { type: 'none' } }
  }
}

/**
 * Wire messages → neutral messages. A user turn's `tool_result` blocks become `tool` messages (named after the
 * `tool_use` they answer) followed by its text; an assistant turn's text blocks and `tool_use` blocks become one
 * assistant message with tool calls.
 */
export function anthropicMessagesToNeutral(messages: MessageParam[]): ChatMessage[] {
  const callNames = new Map<string, string>()
  const out: ChatMessage[] = []
  messages.forEach((message, i) => {
    const at = `messages[${i}]`
    if (typeof message.content === 'string') {
      out.push({ role: message.role, content: message.content })
      return
    }
    const blocks = message.content as Block[]
    if (message.role === 'assistant') {
      const texts: string[] = []
      const toolCalls: ToolCall[] = []
      blocks.forEach((block, j) => {
        switch (block.type) {
          case 'text':
            texts.push(block.text as string)
            break
          case 'tool_use': {
            const call = { id: block.id as string, name: block.name as string, arguments: JSON.stringify(block.input) }
            callNames.set(call.id, call.name)
            toolCalls.push(call)
            break
          }
          case 'thinking':
          case 'redacted_thinking':
            break
          default:
            throw unsupportedBlock(`${at}.content[${j}]`, block.type)
        }
      })
      const content = texts.join('')
      out.push(toolCalls.length > 0 ? { role: 'assistant', content, toolCalls } : { role: 'assistant', content })
      return
    }
    const texts: string[] = []
    blocks.forEach((block, j) => {
      switch (block.type) {
        case 'text':
          texts.push(block.text as string)
          break
        case 'tool_result': {
          const id = block.tool_use_id as string
          const name = callNames.get(id)
          if (name === undefined) {
            throw unsupported(`${at}.content[${j}].tool_use_id`, `tool_result answers '${id.slice(0, 64)}', which no earlier assistant tool_use block has`)
          }
          out.push({
            role: 'tool',
            toolCallId: id,
            name,
            content: toolResultText(block.content as string | Block[] | undefined, `${at}.content[${j}]`),
            ...(block.is_error === true ? { isError: true } : {}),
          })
          break
        }
        default:
          throw unsupportedBlock(`${at}.content[${j}]`, block.type)
      }
    })
    if (texts.length > 0) out.push({ role: 'user', content: texts.join('\n') })
  })
  return out
}

function toolResultText(content: string | Block[] | undefined, at: string): string {
  if (content === undefined) return ''
  if (typeof content === 'string') return content
  return content
    .map((block, k) => {
      if (block.type === 'text') return block.text as string
      throw unsupportedBlock(`${at}.content[${k}]`, block.type)
    })
    .join('\n')
}

function unsupportedBlock(param: string, type: string) {
  return unsupported(param, `content blocks of type '${type.slice(0, 64)}' are not supported; send text, tool_use and tool_result blocks`)
}

/** Anthropic requires `input` to be an object; arguments that are not a JSON object become `{}`. */
export function toToolInput(argumentsJson: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(argumentsJson)
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** Identity of one message on the wire; the route supplies it. */
export interface AnthropicMessageMeta {
  /** `msg_…` */
  id: string
  /** The `model` to report: what the client asked for. */
  model: string
}

/** A finished call → the non-streaming `message` object: a text block (if any text), then the tool_use blocks. */
export function neutralToAnthropicMessage(result: NeutralResult, meta: AnthropicMessageMeta): AnthropicMessage {
  const content: ContentBlock[] = result.text === '' ? [] : [{ type: 'text', text: result.text }]
  for (const call of result.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: toToolInput(call.arguments) })
  return {
    id: meta.id,
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: result.stopSequence === undefined ? toAnthropicStopReason(result.stopReason) : 'stop_sequence',
    stop_sequence: result.stopSequence ?? null,
    stop_details: null,
    usage: { input_tokens: result.usage.inputTokens, output_tokens: result.usage.outputTokens },
  }
}

export interface AnthropicEventEncoder {
  /** `message_start` (empty content, the input tokens if known) and a `ping`; sent once, first. */
  start(): MessageStreamEvent[]
  /** The events one provider event becomes (`start`'s events first if it was not called). */
  push(event: ProviderEvent): MessageStreamEvent[]
}

/**
 * Neutral provider events → the Messages stream: `message_start`, `ping`, then per content block
 * `content_block_start` / `content_block_delta` (`text_delta`, or `input_json_delta` with a tool's arguments) /
 * `content_block_stop` with indices counting from 0 in order, then `message_delta` (stop reason and usage: the
 * SDK's `finalMessage()` takes output and input tokens from it) and `message_stop`.
 */
export function createAnthropicEventEncoder(meta: AnthropicMessageMeta & { inputTokens?: number }): AnthropicEventEncoder {
  let started = false
  let nextIndex = 0
  let openText: number | undefined
  const start = (): MessageStreamEvent[] => {
    if (started) return []
    started = true
    return [
      {
        type: 'message_start',
        message: {
          id: meta.id,
          type: 'message',
          role: 'assistant',
          model: meta.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          stop_details: null,
          usage: { input_tokens: meta.inputTokens ?? 0, output_tokens: 0 },
        },
      },
      { type: 'ping' },
    ]
  }
  const closeText = (out: MessageStreamEvent[]) => {
    if (openText === undefined) return
    out.push({ type: 'content_block_stop', index: openText })
    openText = undefined
  }
  return {
    start,
    push(event) {
      const out = start()
      switch (event.type) {
        case 'text_delta':
          if (event.text === '') break
          if (openText === undefined) {
            openText = nextIndex++
            out.push({ type: 'content_block_start', index: openText, content_block: { type: 'text', text: '' } })
          }
          out.push({ type: 'content_block_delta', index: openText, delta: { type: 'text_delta', text: event.text } })
          break
        case 'tool_call': {
          closeText(out)
          const index = nextIndex++
          out.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: event.call.id, name: event.call.name, input: {} } })
          const json = event.call.arguments.trim() === '' ? '' : JSON.stringify(toToolInput(event.call.arguments))
          if (json !== '' && json !== '{}') out.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json } })
          out.push({ type: 'content_block_stop', index })
          break
        }
        case 'done':
          closeText(out)
          out.push({
            type: 'message_delta',
            delta: {
              stop_reason: event.stopSequence === undefined ? toAnthropicStopReason(event.stopReason) : 'stop_sequence',
              stop_sequence: event.stopSequence ?? null,
            },
            usage: { output_tokens: event.usage.outputTokens, input_tokens: event.usage.inputTokens },
          })
          out.push({ type: 'message_stop' })
          break
      }
      return out
    },
  }
}
