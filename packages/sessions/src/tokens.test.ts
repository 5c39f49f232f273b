import { describe, expect, it } from 'vitest'
import { contextWindowOf, estimateMessageTokens, fitToBudget, UNKNOWN_MODEL_WINDOW } from './tokens.js'

describe('token accounting', () => {
  it('knows the windows of common models, takes an override first, and bounds an unknown model', () => {
    expect(contextWindowOf('openai/gpt-4o-mini')).toEqual({ tokens: 128_000, known: true })
    expect(contextWindowOf('anthropic/claude-sonnet-4-5')).toEqual({ tokens: 200_000, known: true })
    expect(contextWindowOf('openai/gpt-4o-mini', 8_000)).toEqual({ tokens: 8_000, known: true })
    expect(contextWindowOf('echo')).toEqual({ tokens: UNKNOWN_MODEL_WINDOW, known: false })
    expect(contextWindowOf('openai/some-future-model')).toEqual({ tokens: UNKNOWN_MODEL_WINDOW, known: false })
  })

  it('estimates with a real tokenizer: more text, more tokens; empty text still costs the framing', () => {
    expect(estimateMessageTokens('')).toBe(4)
    expect(estimateMessageTokens('hello world')).toBe(6)
    expect(estimateMessageTokens('hello world '.repeat(100))).toBeGreaterThan(150)
  })

  it('keeps the newest whole messages that fit and says how many were left out', () => {
    const messages = ['one', 'two', 'three', 'four'].map((text) => ({ text }))
    const each = estimateMessageTokens('one')
    expect(fitToBudget(messages, each * 2)).toEqual({ kept: messages.slice(2), omitted: 2, tokens: each * 2 })
    expect(fitToBudget(messages, 10_000).omitted).toBe(0)
    expect(fitToBudget(messages, 1)).toEqual({ kept: [], omitted: 4, tokens: 0 })
  })
})
