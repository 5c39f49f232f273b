import { describe, expect, it } from 'vitest'
import { ID_PATTERN, isId, newId } from '../src/ids.js'

describe('newId', () => {
  it('makes prefixed, URL-safe ids that the path pattern accepts, none repeated across pool refills', () => {
    const ids = Array.from({ length: 5000 }, () => newId('run'))
    for (const id of ids.slice(0, 50)) {
      expect(id).toMatch(/^run_[0-9a-z]{21}$/)
      expect(id).toMatch(new RegExp(ID_PATTERN))
      expect(isId('run', id)).toBe(true)
      expect(isId('session', id)).toBe(false)
    }
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('uses every base-36 character in the random part', () => {
    const seen = new Set(Array.from({ length: 500 }, () => newId('message').slice(-12)).join(''))
    expect(seen.size).toBe(36)
  })
})
