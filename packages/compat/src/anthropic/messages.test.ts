import type { ProviderEvent } from '@openvesper/core'
import { AppError } from '@openvesper/shared'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { collectResult } from '../neutral.js'
import { countTokensRequestToNeutral, createAnthropicEventEncoder, messagesRequestToNeutral, neutralToAnthropicMessage } from './messages.js'
import {
  AnthropicMessageSchema,
  CountTokensRequestSchema,
  MessageStreamEventSchema,
  MessagesRequestSchema,
  type AnthropicMessage,
  type MessagesRequest,
  type MessageStreamEvent,
} from './messages.schemas.js'

const request = Compile(MessagesRequestSchema)
const message = Compile(AnthropicMessageSchema)
const eventSchema = Compile(MessageStreamEventSchema)

/** What @anthropic-ai/sdk sends for `messages.stream({ system: [blocks], tools, … })` after a tool round trip. */
const sdkWithToolResult = {
  model: 'anthropic/claude-sonnet-4-5',
  max_tokens: 1024,
  system: [
    { type: 'text', text: 'You are a weather bot.' },
    { type: 'text', text: 'Answer in one line.', cache_control: { type: 'ephemeral' } },
  ],
  messages: [
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'Need the tool.', signature: 'sig' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: '18°C' }] },
        { type: 'text', text: 'And tomorrow?' },
      ],
    },
  ],
  tools: [
    {
      name: 'get_weather',
      description: 'Current weather',
      input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      cache_control: { type: 'ephemeral' },
    },
  ],
  tool_choice: { type: 'auto', disable_parallel_tool_use: true },
  stop_sequences: ['END'],
  temperature: 0.5,
  top_k: 40,
  metadata: { user_id: 'user-42' },
  stream: true,
}

function mapped(body: unknown) {
  expect(request.Check(body), JSON.stringify([...request.Errors(body)].slice(0, 3))).toBe(true)
  return messagesRequestToNeutral(body as MessagesRequest)
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

const user = (content: unknown) => ({ model: 'main', max_tokens: 10, messages: [{ role: 'user', content }] })

describe('messages request schema', () => {
  it('accepts what the Anthropic SDK sends: system blocks with cache_control, thinking, tool_use and tool_result', () => {
    expect(request.Check(sdkWithToolResult)).toBe(true)
  })

  it('requires max_tokens and refuses unknown roles and malformed known blocks', () => {
    expect(request.Check({ model: 'main', messages: [{ role: 'user', content: 'hi' }] })).toBe(false)
    expect(request.Check({ model: 'main', max_tokens: 10, messages: [{ role: 'system', content: 'hi' }] })).toBe(false)
    expect(request.Check(user([{ type: 'text' }]))).toBe(false)
    expect(request.Check(user([{ type: 'tool_result' }]))).toBe(false)
    expect(request.Check({ ...user('x'), temperature: 1.5 })).toBe(false)
  })

  it('accepts block types it does not map and unknown top-level fields', () => {
    expect(request.Check({ ...user([{ type: 'document', source: { type: 'text', data: 'x' } }]), service_tier: 'auto', container: 'c' })).toBe(true)
  })

  it('count_tokens takes the conversation without max_tokens', () => {
    const body = { model: 'main', system: 'be brief', messages: [{ role: 'user' as const, content: 'hi' }] }
    expect(Compile(CountTokensRequestSchema).Check(body)).toBe(true)
    expect(countTokensRequestToNeutral(body)).toEqual({
      model: 'main',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
    })
  })
})

describe('messages request → neutral request', () => {
  it('maps system blocks, tool_use/tool_result turns, tools, tool_choice and sampling options', () => {
    expect(mapped(sdkWithToolResult)).toEqual({
      stream: true,
      request: {
        model: 'anthropic/claude-sonnet-4-5',
        messages: [
          { role: 'system', content: 'You are a weather bot.\n\nAnswer in one line.' },
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
          { role: 'tool', toolCallId: 'toolu_01', name: 'get_weather', content: '18°C' },
          { role: 'user', content: 'And tomorrow?' },
        ],
        tools: [
          { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
        ],
        toolChoice: { type: 'auto' },
        parallelToolCalls: false,
        maxTokens: 1024,
        temperature: 0.5,
        topK: 40,
        stop: ['END'],
        user: 'user-42',
      },
    })
  })

  it('maps tool_choice any/tool/none and an error tool_result', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }]
    const base = { ...user('x'), tools }
    expect(mapped({ ...base, tool_choice: { type: 'any' } }).request.toolChoice).toEqual({ type: 'required' })
    expect(mapped({ ...base, tool_choice: { type: 'tool', name: 'f' } }).request.toolChoice).toEqual({ type: 'tool', name: 'f' })
    expect(mapped({ ...base, tool_choice: { type: 'none' } }).request.toolChoice).toEqual({ type: 'none' })
    expect(refusal({ ...base, tool_choice: { type: 'tool', name: 'g' } })).toBe('tool_choice.name')
    const failed = mapped({
      model: 'main',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'boom', is_error: true }] },
      ],
    })
    expect(failed.request.messages.at(-1)).toEqual({ role: 'tool', toolCallId: 't1', name: 'f', content: 'boom', isError: true })
  })

  it('refuses images, documents, server tools and orphan tool results, naming the block', () => {
    expect(
      refusal(
        user([
          { type: 'text', text: 'see' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } },
        ]),
      ),
    ).toBe('messages[0].content[1]')
    expect(refusal(user([{ type: 'document', source: { type: 'text', data: 'x' } }]))).toBe('messages[0].content[0]')
    expect(refusal({ ...user('x'), tools: [{ type: 'web_search_20250305', name: 'web_search' }] })).toBe('tools[0]')
    expect(refusal(user([{ type: 'tool_result', tool_use_id: 'nope', content: 'r' }]))).toBe('messages[0].content[0].tool_use_id')
  })
})

const meta = { id: 'msg_1', model: 'anthropic/claude-sonnet-4-5' }
const events: ProviderEvent[] = [
  { type: 'text_delta', text: 'Let me ' },
  { type: 'text_delta', text: 'check.' },
  { type: 'tool_call', call: { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
  { type: 'tool_call', call: { id: 'toolu_2', name: 'get_time', arguments: '' } },
  { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 12, outputTokens: 5 } },
]

describe('neutral result → message', () => {
  it('reports a text block, then tool_use blocks with parsed input, the stop reason and usage', () => {
    const body = neutralToAnthropicMessage(collectResult(events), meta)
    expect(message.Check(body)).toBe(true)
    expect(body).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'anthropic/claude-sonnet-4-5',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      stop_details: null,
      usage: { input_tokens: 12, output_tokens: 5 },
    })
  })

  it('maps a cut-off answer to max_tokens', () => {
    const body = neutralToAnthropicMessage({ text: 'Hel', toolCalls: [], stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 1 } }, meta)
    expect(body.stop_reason).toBe('max_tokens')
  })
})

/** How @anthropic-ai/sdk's MessageStream builds `finalMessage()` from the events. */
function accumulate(stream: MessageStreamEvent[]): AnthropicMessage {
  let snapshot: AnthropicMessage | undefined
  const json = new Map<number, string>()
  for (const event of stream) {
    switch (event.type) {
      case 'message_start':
        snapshot = structuredClone(event.message)
        break
      case 'content_block_start':
        snapshot!.content[event.index] = structuredClone(event.content_block)
        break
      case 'content_block_delta': {
        const block = snapshot!.content[event.index]!
        if (event.delta.type === 'text_delta' && block.type === 'text') block.text += event.delta.text
        if (event.delta.type === 'input_json_delta' && block.type === 'tool_use') {
          json.set(event.index, (json.get(event.index) ?? '') + event.delta.partial_json)
          block.input = JSON.parse(json.get(event.index)!)
        }
        break
      }
      case 'message_delta':
        snapshot!.stop_reason = event.delta.stop_reason
        snapshot!.stop_sequence = event.delta.stop_sequence
        snapshot!.usage.output_tokens = event.usage.output_tokens
        if (event.usage.input_tokens != null) snapshot!.usage.input_tokens = event.usage.input_tokens
        break
      default:
        break
    }
  }
  return snapshot!
}

describe('neutral events → Messages stream events', () => {
  it('sends message_start and ping, then blocks with consecutive indices, message_delta and message_stop', () => {
    const encoder = createAnthropicEventEncoder(meta)
    const stream = events.flatMap((e) => encoder.push(e))
    for (const e of stream) expect(eventSchema.Check(e), JSON.stringify(e)).toBe(true)
    expect(stream.map((e) => ('index' in e ? `${e.type}:${e.index}` : e.type))).toEqual([
      'message_start',
      'ping',
      'content_block_start:0',
      'content_block_delta:0',
      'content_block_delta:0',
      'content_block_stop:0',
      'content_block_start:1',
      'content_block_delta:1',
      'content_block_stop:1',
      'content_block_start:2',
      'content_block_stop:2',
      'message_delta',
      'message_stop',
    ])
    expect(stream[0]).toEqual({
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: meta.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    })
    expect(stream[6]).toEqual({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } })
    expect(stream[7]).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":"Paris"}' } })
    expect(stream[11]).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 5, input_tokens: 12 },
    })
  })

  it("gives the SDK's finalMessage() the same message as the non-streaming response", () => {
    const encoder = createAnthropicEventEncoder(meta)
    const stream = [...encoder.start(), ...events.flatMap((e) => encoder.push(e))]
    expect(accumulate(stream)).toEqual(neutralToAnthropicMessage(collectResult(events), meta))
  })

  it('streams a text-only answer as one block, with the input tokens in message_start when known', () => {
    const encoder = createAnthropicEventEncoder({ ...meta, inputTokens: 7 })
    const stream = [
      { type: 'text_delta', text: 'Hi' },
      { type: 'done', stopReason: 'end_turn', usage: { inputTokens: 7, outputTokens: 1 } },
    ].flatMap((e) => encoder.push(e as ProviderEvent))
    expect(stream.map((e) => e.type)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    expect(stream[0]).toMatchObject({ message: { usage: { input_tokens: 7, output_tokens: 0 } } })
    expect(stream.at(-2)).toMatchObject({ delta: { stop_reason: 'end_turn' } })
  })
})
