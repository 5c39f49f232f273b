import type { ChatMessage, ProviderEvent } from '@openvesper/core'
import { AppError } from '@openvesper/shared'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { collectResult } from '../neutral.js'
import { createResponseEventEncoder, responseConversation, responsesRequestToNeutral, toResponseObject, type ResponseMeta } from './responses.js'
import {
  ResponseObjectSchema,
  ResponsesRequestSchema,
  ResponseStreamEventSchema,
  RESPONSE_STREAM_EVENTS,
  type ResponseObject,
  type ResponsesRequest,
} from './responses.schemas.js'

const request = Compile(ResponsesRequestSchema)
const responseSchema = Compile(ResponseObjectSchema)
const eventSchema = Compile(ResponseStreamEventSchema)

function mapped(body: unknown, history?: ChatMessage[]) {
  expect(request.Check(body), JSON.stringify([...request.Errors(body)].slice(0, 3))).toBe(true)
  return responsesRequestToNeutral(body as ResponsesRequest, history)
}

function refusal(body: unknown): unknown {
  try {
    mapped(body)
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return (err as AppError).details?.param
  }
  throw new Error('expected the mapper to refuse the request')
}

/** openai-node 6 `responses.create({ model, instructions, input: [...items], tools, stream: true })` after a tool call. */
const sdkItems = {
  model: 'main',
  instructions: 'Be brief.',
  input: [
    { role: 'user', content: 'Weather in Paris?' },
    { type: 'reasoning', id: 'rs_1', summary: [] },
    { type: 'message', role: 'assistant', id: 'msg_0', status: 'completed', content: [{ type: 'output_text', text: 'Checking.', annotations: [] }] },
    { type: 'function_call', id: 'fc_0', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
    { type: 'function_call_output', call_id: 'call_1', output: '18°C' },
    { role: 'user', content: [{ type: 'input_text', text: 'Thanks' }] },
  ],
  tools: [
    { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
  ],
  tool_choice: 'auto',
  stream: true,
  store: true,
  max_output_tokens: 500,
  reasoning: { effort: 'low' },
  include: ['reasoning.encrypted_content'],
  text: { format: { type: 'text' }, verbosity: 'low' },
}

describe('responses request', () => {
  it('accepts what openai-node 6 sends, string input and background mode', () => {
    expect(request.Check(sdkItems)).toBe(true)
    expect(request.Check({ model: 'main', input: 'hi', background: true, store: true })).toBe(true)
    expect(request.Check({ model: 'main', input: 42 })).toBe(false)
    expect(request.Check({ model: 'main', input: [{ type: 'function_call', call_id: 'c' }] })).toBe(false)
  })

  it('maps instructions, a string input and the flags', () => {
    const call = mapped({ model: 'main', instructions: 'Be brief.', input: 'hi', background: true, previous_response_id: 'resp_0', store: false })
    expect(call).toEqual({
      input: [{ role: 'user', content: 'hi' }],
      stream: false,
      background: true,
      store: false,
      previousResponseId: 'resp_0',
      request: {
        model: 'main',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'hi' },
        ],
      },
    })
  })

  it('joins function_call items to the assistant message before them and names function outputs', () => {
    const call = mapped(sdkItems)
    expect(call.stream).toBe(true)
    expect(call.store).toBe(true)
    expect(call.request).toEqual({
      model: 'main',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
        { role: 'tool', toolCallId: 'call_1', name: 'get_weather', content: '18°C' },
        { role: 'user', content: 'Thanks' },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      maxTokens: 500,
      toolChoice: { type: 'auto' },
      responseFormat: { type: 'text' },
    })
    expect(call.input).toEqual(call.request.messages.slice(1))
  })

  it('continues a previous response: its conversation comes after the new instructions, before the new input', () => {
    const history: ChatMessage[] = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_9', name: 'get_weather', arguments: '{}' }] },
    ]
    const call = mapped(
      {
        model: 'main',
        instructions: 'New rules.',
        previous_response_id: 'resp_1',
        input: [{ type: 'function_call_output', call_id: 'call_9', output: 'sunny' }],
      },
      history,
    )
    expect(call.request.messages).toEqual([
      { role: 'system', content: 'New rules.' },
      ...history,
      { role: 'tool', toolCallId: 'call_9', name: 'get_weather', content: 'sunny' },
    ])
    expect(responseConversation(call, { text: 'Sunny.', toolCalls: [], stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 } })).toEqual([
      { role: 'tool', toolCallId: 'call_9', name: 'get_weather', content: 'sunny' },
      { role: 'assistant', content: 'Sunny.' },
    ])
  })

  it('refuses conversation, prompt, item references, hosted tools, images and orphan outputs, naming the field', () => {
    expect(refusal({ model: 'm', input: 'x', conversation: 'conv_1' })).toBe('conversation')
    expect(refusal({ model: 'm', input: 'x', prompt: { id: 'pmpt_1' } })).toBe('prompt')
    expect(refusal({ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] })).toBe('input[0]')
    expect(refusal({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] })).toBe('tools[0]')
    expect(refusal({ model: 'm', input: 'x', tool_choice: { type: 'web_search_preview' } })).toBe('tool_choice')
    expect(refusal({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x' }] }] })).toBe('input[0].content[0]')
    expect(refusal({ model: 'm', input: [{ type: 'function_call_output', call_id: 'nope', output: 'x' }] })).toBe('input[0].call_id')
  })
})

const meta = (body: Partial<ResponsesRequest> = {}): ResponseMeta => ({
  id: 'resp_abc',
  createdAt: 1_700_000_000,
  model: 'main',
  body: { model: 'main', ...body },
})
const events: ProviderEvent[] = [
  { type: 'text_delta', text: 'Let me ' },
  { type: 'text_delta', text: 'check.' },
  { type: 'tool_call', call: { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
  { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 10, outputTokens: 4 } },
]

describe('response object', () => {
  it('reports the output items, usage and the echoed request for a finished response', () => {
    const body = toResponseObject(meta({ instructions: 'Be brief.', store: false }), { status: 'completed', result: collectResult(events) })
    expect(responseSchema.Check(body), JSON.stringify([...responseSchema.Errors(body)].slice(0, 3))).toBe(true)
    expect(body).toMatchObject({
      id: 'resp_abc',
      object: 'response',
      status: 'completed',
      instructions: 'Be brief.',
      store: false,
      background: false,
      error: null,
      incomplete_details: null,
      output: [
        { type: 'message', id: 'msg_abc', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.', annotations: [] }] },
        { type: 'function_call', id: 'fc_abc_0', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      ],
      usage: { input_tokens: 10, output_tokens: 4, total_tokens: 14 },
    })
  })

  it('is incomplete when the output was cut off, and has no output or usage while queued', () => {
    const cut = toResponseObject(meta(), {
      status: 'completed',
      result: { text: 'Hel', toolCalls: [], stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 1 } },
    })
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } })
    const queued = toResponseObject(meta({ background: true }), { status: 'queued' })
    expect(responseSchema.Check(queued)).toBe(true)
    expect(queued).toMatchObject({ status: 'queued', background: true, output: [], usage: null })
    const failed = toResponseObject(meta(), { status: 'failed', error: { code: 'server_error', message: 'upstream failed' } })
    expect(failed.error).toEqual({ code: 'server_error', message: 'upstream failed' })
  })
})

describe('responses event stream', () => {
  it('sends the documented sequence with sequence numbers from 0, ending in a response that lists the streamed items', () => {
    const encoder = createResponseEventEncoder(meta({ stream: true }))
    const stream = [...encoder.start(), ...events.flatMap((e) => encoder.push(e))]
    for (const e of stream) {
      expect(eventSchema.Check(e), JSON.stringify(e)).toBe(true)
      expect(RESPONSE_STREAM_EVENTS).toContain(e.type)
    }
    expect(stream.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(stream.map((e) => e.sequence_number)).toEqual(stream.map((_, i) => i))
    expect(encoder.lastSequence()).toBe(stream.length - 1)
    expect(stream[0]).toMatchObject({ response: { status: 'in_progress', output: [] } })
    expect(stream[4]).toMatchObject({ item_id: 'msg_abc', output_index: 0, content_index: 0, delta: 'Let me ' })
    expect(stream[6]).toMatchObject({ text: 'Let me check.' })
    expect(stream[10]).toMatchObject({ item_id: 'fc_abc_0', output_index: 1, delta: '{"city":"Paris"}' })
    const completed = stream.at(-1) as unknown as { response: ResponseObject }
    expect(completed.response.output).toEqual(toResponseObject(meta(), { status: 'completed', result: collectResult(events) }).output)
    expect(completed.response.usage).toMatchObject({ input_tokens: 10, output_tokens: 4 })
  })

  it('starts a background response as queued and sends in_progress when it runs', () => {
    const encoder = createResponseEventEncoder(meta({ background: true, stream: true }))
    expect(encoder.start().map((e) => [e.type, 'response' in e ? e.response.status : undefined])).toEqual([['response.created', 'queued']])
    expect(encoder.running().map((e) => e.type)).toEqual(['response.in_progress'])
    expect(encoder.push({ type: 'text_delta', text: 'x' }).map((e) => e.type)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
    ])
  })

  it('ends with response.incomplete when cut off and response.failed on failure', () => {
    const cut = createResponseEventEncoder(meta())
    const stream = [
      { type: 'text_delta', text: 'Hel' },
      { type: 'done', stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 1 } },
    ].flatMap((e) => cut.push(e as ProviderEvent))
    expect(stream.at(-1)).toMatchObject({ type: 'response.incomplete', response: { status: 'incomplete', output: [{ status: 'incomplete' }] } })
    const failing = createResponseEventEncoder(meta())
    failing.push({ type: 'text_delta', text: 'Hel' })
    const end = failing.fail({ code: 'server_error', message: 'upstream failed' })
    expect(end.map((e) => e.type)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.failed'])
    expect(end.at(-1)).toMatchObject({ response: { status: 'failed', error: { code: 'server_error', message: 'upstream failed' } } })
  })
})
