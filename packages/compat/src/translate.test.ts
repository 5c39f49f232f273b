import { toAnthropicRequest, toOpenAIRequest, type ProviderEvent } from '@openvesper/core'
import { describe, expect, it } from 'vitest'
import { createAnthropicEventEncoder, messagesRequestToNeutral } from './anthropic/messages.js'
import type { MessagesRequest } from './anthropic/messages.schemas.js'
import { chatRequestToNeutral, createChatChunkEncoder } from './openai/chat.js'
import type { ChatCompletionRequest } from './openai/chat.schemas.js'

/**
 * Translation between the two wire formats goes through the neutral request and core's provider mappers:
 * an OpenAI-shaped request for an Anthropic model is `chatRequestToNeutral` → `toAnthropicRequest`, and the
 * provider's events come back through `createChatChunkEncoder`; the reverse on the Anthropic surface.
 */
const signal = new AbortController().signal

describe('translation between the wire formats', () => {
  it('turns an OpenAI tool round trip into an Anthropic Messages request', () => {
    const { request } = chatRequestToNeutral({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} } } }],
      max_tokens: 100,
    } as ChatCompletionRequest)
    expect(toAnthropicRequest({ ...request, signal })).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      system: 'Be brief.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '18°C' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: {} } }],
      stream: true,
    })
  })

  it('turns an Anthropic tool round trip into an OpenAI chat completions request', () => {
    const { request } = messagesRequestToNeutral({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C', is_error: false }] },
      ],
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
    } as MessagesRequest)
    expect(toOpenAIRequest({ ...request, signal })).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: '', parameters: { type: 'object', properties: {} } } }],
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
    })
  })

  it('reports the same answer on both surfaces from one provider event stream', () => {
    const events: ProviderEvent[] = [
      { type: 'text_delta', text: 'Sunny' },
      { type: 'tool_call', call: { id: 'call_1', name: 'f', arguments: '{"a":1}' } },
      { type: 'done', stopReason: 'tool_use', usage: { inputTokens: 3, outputTokens: 2 } },
    ]
    const openai = createChatChunkEncoder({ id: 'chatcmpl-1', model: 'm', created: 0, includeUsage: true })
    const anthropic = createAnthropicEventEncoder({ id: 'msg_1', model: 'm' })
    const chunks = events.flatMap((e) => openai.push(e))
    const stream = events.flatMap((e) => anthropic.push(e))
    const openaiText = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    const anthropicText = stream.map((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : '')).join('')
    expect(openaiText).toBe(anthropicText)
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('tool_calls')
    expect(stream.find((e) => e.type === 'message_delta')).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 2 } })
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
  })
})
