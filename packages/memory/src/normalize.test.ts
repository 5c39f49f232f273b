import { describe, expect, it } from 'vitest'
import { dedupeHash, normalizeMemoryText } from './normalize.js'

describe('memory text normalisation (the dedupe rule)', () => {
  it('folds case, compatibility forms and whitespace', () => {
    expect(normalizeMemoryText('  The  user\tLIKES\n\nｔｅａ ')).toBe('the user likes tea')
    expect(dedupeHash('User likes tea')).toBe(dedupeHash('user   likes TEA'))
  })

  it('keeps different texts apart, punctuation included', () => {
    expect(dedupeHash('user likes tea')).not.toBe(dedupeHash('user likes tea!'))
    expect(dedupeHash('café')).toBe(dedupeHash('cafe\u0301'))
  })
})
