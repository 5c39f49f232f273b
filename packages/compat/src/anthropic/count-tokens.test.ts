import { describe, expect, it } from 'vitest'
import { countInputTokens } from './count-tokens.js'
import { countTokensRequestToNeutral } from './messages.js'

describe('countInputTokens', () => {
  it('counts the o200k_base tokens of the text plus the per-message overhead', () => {
    // "Hello world" is two o200k_base tokens: 3 (priming) + 3 (message) + 2.
    expect(countInputTokens({ messages: [{ role: 'user', content: 'Hello world' }] })).toBe(8)
  })

  it('grows with the system prompt, the tools and the tool results, and counts special-token text as text', () => {
    const base = countTokensRequestToNeutral({ model: 'main', messages: [{ role: 'user', content: 'Weather?' }] })
    const more = countTokensRequestToNeutral({
      model: 'main',
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: '18 degrees <|endoftext|>' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
    })
    const small = countInputTokens(base)
    const large = countInputTokens(more)
    expect(small).toBe(3 + 3 + 2)
    expect(large).toBeGreaterThan(small + 20)
  })
})
