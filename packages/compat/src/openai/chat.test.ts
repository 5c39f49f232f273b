import { AppError } from '@openvesper/shared'
import type { ProviderEvent } from '@openvesper/core'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { collectResult } from '../neutral.js'
import { chatRequestToNeutral, createChatChunkEncoder, neutralToChatCompletion } from './chat.js'
import { ChatCompletionChunkSchema, ChatCompletionRequestSchema, ChatCompletionSchema, type ChatCompletionRequest } from './chat.schemas.js'

const request = Compile(ChatCompletionRequestSchema)
const completion = Compile(ChatCompletionSchema)
const chunkSchema = Compile(ChatCompletionChunkSchema)

/** The body openai-node 6 sends for `chat.completions.create({ …, tools, stream: true, stream_options })`. */
const sdkStreamWithTools = {
  model: 'openai/gpt-4o-mini',
  messages: [
    { role: 'developer', content: 'You are terse.' },
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    },
    { role: 'tool', tool_call_id: 'call_abc', content: '{"temp_c":18}' },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
        strict: true,
      },
    },
  ],
  tool_choice: 'auto',
  parallel_tool_calls: true,
  stream: true,
  stream_options: { include_usage: true },
  temperature: 0.2,
  max_completion_tokens: 256,
  stop: ['\n\nUser:'],
  user: 'user-42',
  metadata: { app: 'demo' },
  seed: 7,
  response_format: { type: 'text' },
}

/** What LangChain's ChatOpenAI and similar wrappers send: explicit nulls and parameters we only ignore. */
const wrapperWithNulls = {
  model: 'main',
  messages: [
    { role: 'system', content: 'Be nice.' },
    { role: 'user', content: 'hi', name: 'bob' },
  ],
  temperature: null,
  top_p: null,
  n: 1,
  stop: null,
  max_tokens: null,
  presence_penalty: 0,
  frequency_penalty: 0,
  logit_bias: null,
  logprobs: false,
  stream: false,
  service_tier: 'auto',
  store: false,
  reasoning_effort: null,
  user: null,
  parallel_tool_calls: null,
  some_future_param: { anything: true },
}

function mapped(body: unknown) {
  expect(request.Check(body), JSON.stringify([...request.Errors(body)].slice(0, 3))).toBe(true)
  return chatRequestToNeutral(body as ChatCompletionRequest)
}

function mapError(body: unknown): AppError {
  try {
    mapped(body)
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return err as AppError
  }
  throw new Error('expected the mapper to refuse the request')
}

describe('chat completions request schema', () => {
  it('accepts what openai-node 6 sends for a streamed call with tools and stream_options', () => {
    expect(request.Check(sdkStreamWithTools)).toBe(true)
  })

  it('accepts explicit nulls and unknown parameters that wrappers send', () => {
    expect(request.Check(wrapperWithNulls)).toBe(true)
  })

  it('refuses a body without messages, a message with an unknown role, or a wrongly typed known field', () => {
    expect(request.Check({ model: 'main' })).toBe(false)
    expect(request.Check({ model: 'main', messages: [] })).toBe(false)
    expect(request.Check({ model: 'main', messages: [{ role: 'robot', content: 'x' }] })).toBe(false)
    expect(request.Check({ model: 'main', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' })).toBe(false)
    expect(request.Check({ model: 'main', messages: [{ role: 'user', content: 'x' }], temperature: 3 })).toBe(false)
    expect(request.Check({ model: 'main', messages: [{ role: 'tool', content: 'x' }] })).toBe(false)
  })

  it('accepts image content parts (the mapper, not the schema, refuses them)', () => {
    const body = { model: 'main', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }] }] }
    expect(request.Check(body)).toBe(true)
  })
})

describe('chat completions request → neutral request', () => {
  it('maps messages, tools, sampling options and streaming flags', () => {
    const call = mapped(sdkStreamWithTools)
    expect(call.stream).toBe(true)
    expect(call.includeUsage).toBe(true)
    expect(call.request).toEqual({
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
        { role: 'tool', toolCallId: 'call_abc', name: 'get_weather', content: '{"temp_c":18}' },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
        },
      ],
      maxTokens: 256,
      temperature: 0.2,
      stop: ['\n\nUser:'],
      toolChoice: { type: 'auto' },
      parallelToolCalls: true,
      responseFormat: { type: 'text' },
      user: 'user-42',
      metadata: { app: 'demo' },
      seed: 7,
    })
  })

  it('treats nulls as unset and ignores parameters it cannot honour without changing the answer', () => {
    const call = mapped(wrapperWithNulls)
    expect(call).toEqual({
      stream: false,
      includeUsage: false,
      request: {
        model: 'main',
        messages: [
          { role: 'system', content: 'Be nice.' },
          { role: 'user', content: 'hi' },
        ],
      },
    })
  })

  it('prefers max_completion_tokens over max_tokens and accepts a single stop string', () => {
    expect(mapped({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 10 }).request.maxTokens).toBe(10)
    const both = mapped({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 10, max_completion_tokens: 20, stop: 'END' })
    expect(both.request.maxTokens).toBe(20)
    expect(both.request.stop).toEqual(['END'])
  })

  it('sends usage only when streaming with include_usage', () => {
    expect(mapped({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }).includeUsage).toBe(false)
    expect(mapped({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true }).includeUsage).toBe(false)
  })

  it('maps tool_choice forms, including a named function and allowed_tools', () => {
    const tools = [
      { type: 'function', function: { name: 'a' } },
      { type: 'function', function: { name: 'b', parameters: { type: 'object', properties: {} } } },
    ]
    const base = { model: 'm', messages: [{ role: 'user', content: 'x' }], tools }
    expect(mapped({ ...base, tool_choice: 'required' }).request.toolChoice).toEqual({ type: 'required' })
    expect(mapped({ ...base, tool_choice: 'none' }).request.toolChoice).toEqual({ type: 'none' })
    expect(mapped({ ...base, tool_choice: { type: 'function', function: { name: 'b' } } }).request.toolChoice).toEqual({ type: 'tool', name: 'b' })
    const allowed = mapped({
      ...base,
      tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'a' } }] } },
    })
    expect(allowed.request.toolChoice).toEqual({ type: 'required' })
    expect(allowed.request.tools).toEqual([{ name: 'a', description: '', parameters: { type: 'object', properties: {} } }])
    expect(errorParam(mapError({ ...base, tool_choice: { type: 'function', function: { name: 'zzz' } } }))).toBe('tool_choice')
  })

  it('maps a json_schema response_format', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } }
    const call = mapped({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema, strict: true } },
    })
    expect(call.request.responseFormat).toEqual({ type: 'json_schema', name: 'out', schema, strict: true })
  })

  it('refuses n other than 1, naming the parameter', () => {
    const err = mapError({ model: 'm', messages: [{ role: 'user', content: 'x' }], n: 2 })
    expect(err.code).toBe('invalid_request')
    expect(err.message).toMatch(/only n: 1/)
    expect(err.details?.param).toBe('n')
  })

  it('refuses image parts, deprecated functions, audio output and custom tools with the field named', () => {
    const image = {
      model: 'm',
      messages: [
        { role: 'user', content: 'x' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'see' },
            { type: 'image_url', image_url: { url: 'data:,' } },
          ],
        },
      ],
    }
    expect(errorParam(mapError(image))).toBe('messages[1].content[1]')
    expect(errorParam(mapError({ model: 'm', messages: [{ role: 'user', content: 'x' }], functions: [{ name: 'f' }] }))).toBe('functions')
    expect(errorParam(mapError({ model: 'm', messages: [{ role: 'user', content: 'x' }], modalities: ['text', 'audio'] }))).toBe('modalities')
    expect(errorParam(mapError({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'custom', custom: { name: 'c' } }] }))).toBe(
      'tools[0]',
    )
    expect(errorParam(mapError({ model: 'm', messages: [{ role: 'function', name: 'f', content: 'x' }] }))).toBe('messages[0].role')
  })

  it('refuses a tool message that answers no earlier tool call', () => {
    const err = mapError({
      model: 'm',
      messages: [
        { role: 'user', content: 'x' },
        { role: 'tool', tool_call_id: 'call_missing', content: 'r' },
      ],
    })
    expect(err.details?.param).toBe('messages[1].tool_call_id')
  })
})

const meta = { id: 'chatcmpl-1', model: 'openai/gpt-4o-mini', created: 1_700_000_000 }

describe('neutral result → chat.completion', () => {
  it('reports text, finish reason and usage', () => {
    const body = neutralToChatCompletion({ text: 'Hello', toolCalls: [], stopReason: 'end_turn', usage: { inputTokens: 5, outputTokens: 2 } }, meta)
    expect(completion.Check(body)).toBe(true)
    expect(body).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'openai/gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    })
  })

  it('reports tool calls with content null and finish_reason tool_calls', () => {
    const body = neutralToChatCompletion(
      { text: '', toolCalls: [{ id: 'call_1', name: 'f', arguments: '{"x":1}' }], stopReason: 'tool_use', usage: { inputTokens: 1, outputTokens: 1 } },
      meta,
    )
    expect(completion.Check(body)).toBe(true)
    expect(body.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }],
    })
    expect(body.choices[0]?.finish_reason).toBe('tool_calls')
  })

  it('maps a cut-off answer to finish_reason length', () => {
    const body = neutralToChatCompletion({ text: 'Hel', toolCalls: [], stopReason: 'max_tokens', usage: { inputTokens: 1, outputTokens: 1 } }, meta)
    expect(body.choices[0]?.finish_reason).toBe('length')
  })
})

describe('neutral events → chat.completion.chunk stream', () => {
  const events: ProviderEvent[] = [
    { type: 'text_delta', text: 'Let me ' },
    { type: 'text_delta', text: 'check.' },
    { type: 'tool_call', call: { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
    { type: 'tool_call', call: { id: 'call_2', name: 'get_time', arguments: '' } },
    { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 10, outputTokens: 4 } },
  ]

  it('sends the role first, then content, tool call deltas with indices, the finish reason and the usage chunk', () => {
    const encoder = createChatChunkEncoder({ ...meta, includeUsage: true })
    const chunks = events.flatMap((e) => encoder.push(e))
    for (const c of chunks) expect(chunkSchema.Check(c), JSON.stringify(c)).toBe(true)
    expect(chunks.map((c) => c.choices[0]?.delta ?? 'usage')).toEqual([
      { role: 'assistant', content: '', refusal: null },
      { content: 'Let me ' },
      { content: 'check.' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] },
      { tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } }] },
      {},
      'usage',
    ])
    expect(chunks.slice(0, -1).map((c) => c.choices[0]?.finish_reason)).toEqual([null, null, null, null, null, null, 'tool_calls'])
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true)
    expect(chunks.at(-1)).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'openai/gpt-4o-mini',
      choices: [],
      usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 },
    })
  })

  it('omits usage entirely without include_usage and sends the role chunk once', () => {
    const encoder = createChatChunkEncoder({ ...meta, includeUsage: false })
    const first = encoder.start()
    const rest = [
      { type: 'text_delta', text: 'Hi' } as const,
      { type: 'done', stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1 } } as const,
    ].flatMap((e) => encoder.push(e))
    expect(first).toHaveLength(1)
    expect(rest.map((c) => c.choices[0]?.delta)).toEqual([{ content: 'Hi' }, {}])
    expect(rest.at(-1)?.choices[0]?.finish_reason).toBe('stop')
    expect([...first, ...rest].every((c) => !('usage' in c))).toBe(true)
  })

  it('streams what the non-streaming response reports (same events, same answer)', () => {
    const encoder = createChatChunkEncoder({ ...meta, includeUsage: true })
    const chunks = events.flatMap((e) => encoder.push(e))
    let content = ''
    const calls: { id?: string; name?: string; arguments: string }[] = []
    for (const c of chunks) {
      const delta = c.choices[0]?.delta
      content += delta?.content ?? ''
      for (const t of delta?.tool_calls ?? []) {
        const call = (calls[t.index] ??= { arguments: '' })
        if (t.id) call.id = t.id
        if (t.function?.name) call.name = t.function.name
        call.arguments += t.function?.arguments ?? ''
      }
    }
    const body = neutralToChatCompletion(collectResult(events), meta)
    expect(content).toBe(body.choices[0]?.message.content)
    expect(calls).toEqual(body.choices[0]?.message.tool_calls?.map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments })))
  })
})

function errorParam(err: AppError): unknown {
  return err.details?.param
}
