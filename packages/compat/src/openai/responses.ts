import type { ChatMessage, ProviderEvent, ToolCall, ToolSpec } from '@openvesper/core'
import { unsupported } from '../errors.js'
import type { NeutralRequest, NeutralResponseFormat, NeutralResult, NeutralToolChoice } from '../neutral.js'
import type {
  InputItem,
  OutputItem,
  OutputText,
  ResponseObject,
  ResponsesRequest,
  ResponseStatus,
  ResponseStreamEvent,
  ResponseUsage,
} from './responses.schemas.js'

/** Pure mappers between `/v1/responses` and the neutral request, result and provider events. */

const NO_PARAMETERS = { type: 'object', properties: {} }

export interface ResponsesCall {
  request: NeutralRequest
  /** The messages this request adds to the conversation (its `input`, without `instructions`), to store for a later `previous_response_id`. */
  input: ChatMessage[]
  stream: boolean
  background: boolean
  /** OpenAI's default: stored unless `store: false`. */
  store: boolean
  previousResponseId?: string
}

/**
 * A validated Responses body → the neutral request. `history` is the stored conversation of
 * `previous_response_id` (its input and output, oldest first), which the route loads; as at OpenAI, the previous
 * response's `instructions` are not carried over, this request's are (as the first, system, message).
 */
export function responsesRequestToNeutral(body: ResponsesRequest, history: ChatMessage[] = []): ResponsesCall {
  if (body.conversation !== undefined && body.conversation !== null) {
    throw unsupported('conversation', '`conversation` is not supported; chain responses with `previous_response_id`')
  }
  if (body.prompt !== undefined && body.prompt !== null) throw unsupported('prompt', 'prompt templates are not supported; send `instructions` and `input`')

  let tools = (body.tools ?? []).map((tool, i): ToolSpec => {
    if (tool.type !== 'function') throw unsupported(`tools[${i}]`, `tools of type '${tool.type.slice(0, 64)}' are not supported; use 'function'`)
    const fn = tool as { name: string; description?: string | null; parameters?: Record<string, unknown> | null }
    return { name: fn.name, description: fn.description ?? '', parameters: fn.parameters ?? NO_PARAMETERS }
  })
  let toolChoice: NeutralToolChoice | undefined
  const choice = body.tool_choice
  if (choice === 'auto' || choice === 'none' || choice === 'required') toolChoice = { type: choice }
  else if (choice !== undefined) {
    const typed = choice as { type: string; name?: string; mode?: 'auto' | 'required'; tools?: Record<string, unknown>[] }
    if (typed.type === 'function') toolChoice = { type: 'tool', name: typed.name ?? '' }
    else if (typed.type === 'allowed_tools') {
      const allowed = new Set((typed.tools ?? []).map((t) => (typeof t.name === 'string' ? t.name : '')))
      tools = tools.filter((t) => allowed.has(t.name))
      toolChoice = { type: typed.mode ?? 'auto' }
    } else throw unsupported('tool_choice', `tool_choice of type '${typed.type.slice(0, 64)}' is not supported`)
  }
  if (toolChoice?.type === 'tool' && !tools.some((t) => t.name === (toolChoice as { name: string }).name)) {
    throw unsupported('tool_choice', `tool_choice names '${toolChoice.name.slice(0, 64)}', which is not in tools`)
  }

  const input = inputToNeutral(body.input ?? [], history)
  const instructions = body.instructions ?? ''
  const format = body.text?.format
  const responseFormat: NeutralResponseFormat | undefined =
    format === undefined
      ? undefined
      : format.type === 'json_schema'
        ? {
            type: 'json_schema',
            name: format.name,
            schema: format.schema,
            ...(format.strict === undefined || format.strict === null ? {} : { strict: format.strict }),
            ...(format.description === undefined ? {} : { description: format.description }),
          }
        : { type: format.type }
  return {
    input,
    stream: body.stream === true,
    background: body.background === true,
    store: body.store !== false,
    ...(body.previous_response_id ? { previousResponseId: body.previous_response_id } : {}),
    request: {
      model: body.model,
      messages: [...(instructions === '' ? [] : [{ role: 'system' as const, content: instructions }]), ...history, ...input],
      ...(tools.length > 0 ? { tools } : {}),
      ...(body.max_output_tokens === undefined || body.max_output_tokens === null ? {} : { maxTokens: body.max_output_tokens }),
      ...(body.temperature === undefined || body.temperature === null ? {} : { temperature: body.temperature }),
      ...(body.top_p === undefined || body.top_p === null ? {} : { topP: body.top_p }),
      ...(toolChoice ? { toolChoice } : {}),
      ...(body.parallel_tool_calls === undefined || body.parallel_tool_calls === null ? {} : { parallelToolCalls: body.parallel_tool_calls }),
      ...(responseFormat ? { responseFormat } : {}),
      ...(body.user === undefined ? {} : { user: body.user }),
      ...(body.metadata ? { metadata: body.metadata } : {}),
    },
  }
}

/**
 * Input items → neutral messages. Adjacent `function_call` items join the assistant message before them (the
 * Responses API spreads one assistant turn over a message item and call items); a `function_call_output` takes
 * its function name from the call it answers, in this input or in `history`; `reasoning` items are dropped.
 */
function inputToNeutral(input: string | InputItem[], history: ChatMessage[]): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }]
  const callNames = new Map<string, string>()
  for (const m of history) if (m.role === 'assistant') for (const c of m.toolCalls ?? []) callNames.set(c.id, c.name)
  const out: ChatMessage[] = []
  input.forEach((raw, i) => {
    const at = `input[${i}]`
    const item = raw as { type?: string; [key: string]: unknown }
    switch (item.type ?? 'message') {
      case 'message': {
        const message = raw as { role: 'user' | 'assistant' | 'system' | 'developer'; content: string | { type: string; text?: string; refusal?: string }[] }
        const content =
          typeof message.content === 'string'
            ? message.content
            : message.content
                .map((part, j) => {
                  if (part.type === 'input_text' || part.type === 'output_text') return part.text ?? ''
                  if (part.type === 'refusal') return part.refusal ?? ''
                  throw unsupported(`${at}.content[${j}]`, `content parts of type '${part.type}' are not supported; send text`)
                })
                .join('\n')
        out.push({ role: message.role === 'developer' ? 'system' : message.role, content })
        break
      }
      case 'function_call': {
        const call: ToolCall = { id: item.call_id as string, name: item.name as string, arguments: item.arguments as string }
        callNames.set(call.id, call.name)
        const last = out.at(-1)
        if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call]
        else out.push({ role: 'assistant', content: '', toolCalls: [call] })
        break
      }
      case 'function_call_output': {
        const callId = item.call_id as string
        const name = callNames.get(callId)
        if (name === undefined) throw unsupported(`${at}.call_id`, `function_call_output answers '${callId.slice(0, 64)}', which no earlier function_call has`)
        const output = item.output as string | { type: string; text?: string }[]
        const content =
          typeof output === 'string'
            ? output
            : output
                .map((part, j) => {
                  if (part.type === 'input_text') return part.text ?? ''
                  throw unsupported(`${at}.output[${j}]`, `output parts of type '${part.type}' are not supported; send text`)
                })
                .join('\n')
        out.push({ role: 'tool', toolCallId: callId, name, content })
        break
      }
      case 'reasoning':
        break
      case 'item_reference':
        throw unsupported(`${at}`, '`item_reference` items are not supported; chain responses with `previous_response_id`')
      default:
        throw unsupported(`${at}`, `input items of type '${String(item.type).slice(0, 64)}' are not supported`)
    }
  })
  return out
}

/** The neutral messages a finished response adds after its input (what `previous_response_id` continues from). */
export function responseConversation(call: Pick<ResponsesCall, 'input'>, result: NeutralResult): ChatMessage[] {
  const reply: ChatMessage =
    result.toolCalls.length > 0 ? { role: 'assistant', content: result.text, toolCalls: result.toolCalls } : { role: 'assistant', content: result.text }
  return [...call.input, reply]
}

/** What a response object echoes of its request, and its identity; the route supplies ids and clock. */
export interface ResponseMeta {
  /** `resp_…`; the output item ids are derived from it (`msg_…`, `fc_…_0`). */
  id: string
  /** Unix seconds. */
  createdAt: number
  model: string
  body: ResponsesRequest
}

export function toResponseUsage(usage: NeutralResult['usage']): ResponseUsage {
  return {
    input_tokens: usage.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.inputTokens + usage.outputTokens,
  }
}

const itemSuffix = (responseId: string) => responseId.replace(/^resp_/, '')
export const messageItemId = (responseId: string) => `msg_${itemSuffix(responseId)}`
export const functionCallItemId = (responseId: string, index: number) => `fc_${itemSuffix(responseId)}_${index}`

/**
 * The response object in a given state: `result` for a finished call (status `completed`, or `incomplete` when
 * the output was cut off), none for `queued`/`in_progress`/`cancelled`, `error` for `failed`.
 */
export function toResponseObject(
  meta: ResponseMeta,
  state: { status: ResponseStatus; result?: NeutralResult; error?: { code: string; message: string }; output?: OutputItem[] },
): ResponseObject {
  const body = meta.body
  const result = state.result
  const status: ResponseStatus = result && result.stopReason === 'max_tokens' && state.status === 'completed' ? 'incomplete' : state.status
  const tools = (body.tools ?? []).filter((t) => t.type === 'function') as ResponseObject['tools']
  return {
    id: meta.id,
    object: 'response',
    created_at: meta.createdAt,
    status,
    model: meta.model,
    output: state.output ?? (result ? resultOutput(meta.id, result, 'completed') : []),
    error: state.error ?? null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    tools,
    tool_choice: body.tool_choice ?? 'auto',
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    previous_response_id: body.previous_response_id ?? null,
    metadata: body.metadata ?? {},
    background: body.background === true,
    store: body.store !== false,
    text: { format: body.text?.format ?? { type: 'text' } },
    truncation: body.truncation ?? 'disabled',
    usage: result ? toResponseUsage(result.usage) : null,
    ...(body.user === undefined ? {} : { user: body.user }),
  }
}

function resultOutput(responseId: string, result: NeutralResult, status: 'completed' | 'incomplete'): OutputItem[] {
  const out: OutputItem[] = []
  if (result.text !== '') out.push({ type: 'message', id: messageItemId(responseId), status, role: 'assistant', content: [outputText(result.text)] })
  for (const [i, call] of result.toolCalls.entries()) {
    out.push({
      type: 'function_call',
      id: functionCallItemId(responseId, i),
      call_id: call.id,
      name: call.name,
      arguments: call.arguments,
      status: 'completed',
    })
  }
  return out
}

/** The `error.code` of a failed response (Responses' closed set) for a failure status (`failureStatus`). */
export const responseErrorCode = (status: number): 'rate_limit_exceeded' | 'server_error' => (status === 429 ? 'rate_limit_exceeded' : 'server_error')

const outputText = (text: string): OutputText => ({ type: 'output_text', text, annotations: [], logprobs: [] })

type Unstamped = ResponseStreamEvent extends infer E ? (E extends unknown ? Omit<E, 'sequence_number'> : never) : never

export interface ResponseEventEncoder {
  /** `response.created` (status `queued` for a background response, else `in_progress`) and, unless queued, `response.in_progress`. */
  start(): ResponseStreamEvent[]
  /** A queued background response starting to run: `response.in_progress`. */
  running(): ResponseStreamEvent[]
  /** The events one provider event becomes; `done` ends with `response.completed` (or `response.incomplete`). */
  push(event: ProviderEvent): ResponseStreamEvent[]
  /** The call failed: close what is open and send `response.failed` with the error. */
  fail(error: { code: string; message: string }): ResponseStreamEvent[]
  /** The number of the last event produced (-1 before any): what a client resumes after with `starting_after`. */
  lastSequence(): number
}

/**
 * Neutral provider events → the Responses event sequence: `response.created`, `response.in_progress`, per output
 * item `response.output_item.added` … `response.output_item.done` (a message with `content_part.added`,
 * `output_text.delta`s, `output_text.done`, `content_part.done`; a function call with
 * `function_call_arguments.delta`/`.done`), then `response.completed` whose response lists the same items.
 * `sequence_number` counts from 0 over the whole stream.
 */
export function createResponseEventEncoder(meta: ResponseMeta): ResponseEventEncoder {
  let sequence = -1
  let started = false
  let queued = false
  const output: OutputItem[] = []
  let text: { item: Extract<OutputItem, { type: 'message' }>; index: number; value: string } | undefined
  let calls = 0
  const stamp = (event: Unstamped): ResponseStreamEvent => ({ ...event, sequence_number: ++sequence }) as ResponseStreamEvent
  const snapshot = (status: ResponseStatus, extra: { result?: NeutralResult; error?: { code: string; message: string } } = {}) =>
    toResponseObject(meta, { status, output: structuredClone(output), ...extra })

  const start = (): ResponseStreamEvent[] => {
    if (started) return []
    started = true
    queued = meta.body.background === true
    const events: ResponseStreamEvent[] = [stamp({ type: 'response.created', response: snapshot(queued ? 'queued' : 'in_progress') })]
    if (!queued) events.push(stamp({ type: 'response.in_progress', response: snapshot('in_progress') }))
    return events
  }
  const running = (): ResponseStreamEvent[] => {
    const events = start()
    if (!queued) return events
    queued = false
    return [...events, stamp({ type: 'response.in_progress', response: snapshot('in_progress') })]
  }
  const closeText = (events: ResponseStreamEvent[], status: 'completed' | 'incomplete') => {
    if (!text) return
    const { item, index, value } = text
    const part = outputText(value)
    events.push(stamp({ type: 'response.output_text.done', item_id: item.id, output_index: index, content_index: 0, text: value, logprobs: [] }))
    events.push(stamp({ type: 'response.content_part.done', item_id: item.id, output_index: index, content_index: 0, part }))
    item.content = [part]
    item.status = status
    events.push(stamp({ type: 'response.output_item.done', output_index: index, item: structuredClone(item) }))
    text = undefined
  }
  return {
    start,
    running,
    lastSequence: () => sequence,
    push(event) {
      const events = running()
      switch (event.type) {
        case 'text_delta': {
          if (event.text === '') break
          if (!text) {
            const item: Extract<OutputItem, { type: 'message' }> = {
              type: 'message',
              id: messageItemId(meta.id),
              status: 'in_progress',
              role: 'assistant',
              content: [],
            }
            text = { item, index: output.length, value: '' }
            output.push(item)
            events.push(stamp({ type: 'response.output_item.added', output_index: text.index, item: structuredClone(item) }))
            events.push(stamp({ type: 'response.content_part.added', item_id: item.id, output_index: text.index, content_index: 0, part: outputText('') }))
          }
          text.value += event.text
          events.push(
            stamp({ type: 'response.output_text.delta', item_id: text.item.id, output_index: text.index, content_index: 0, delta: event.text, logprobs: [] }),
          )
          break
        }
        case 'tool_call': {
          closeText(events, 'completed')
          const index = output.length
          const item: Extract<OutputItem, { type: 'function_call' }> = {
            type: 'function_call',
            id: functionCallItemId(meta.id, calls++),
            call_id: event.call.id,
            name: event.call.name,
            arguments: '',
            status: 'in_progress',
          }
          output.push(item)
          events.push(stamp({ type: 'response.output_item.added', output_index: index, item: structuredClone(item) }))
          if (event.call.arguments !== '') {
            events.push(stamp({ type: 'response.function_call_arguments.delta', item_id: item.id, output_index: index, delta: event.call.arguments }))
          }
          events.push(
            stamp({ type: 'response.function_call_arguments.done', item_id: item.id, output_index: index, name: item.name, arguments: event.call.arguments }),
          )
          item.arguments = event.call.arguments
          item.status = 'completed'
          events.push(stamp({ type: 'response.output_item.done', output_index: index, item: structuredClone(item) }))
          break
        }
        case 'done': {
          const cutOff = event.stopReason === 'max_tokens'
          closeText(events, cutOff ? 'incomplete' : 'completed')
          const result: NeutralResult = { text: '', toolCalls: [], stopReason: event.stopReason, usage: event.usage }
          const response = snapshot('completed', { result })
          events.push(stamp({ type: response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response }))
          break
        }
      }
      return events
    },
    fail(error) {
      const events = running()
      closeText(events, 'incomplete')
      events.push(stamp({ type: 'response.failed', response: snapshot('failed', { error }) }))
      return events
    },
  }
}
