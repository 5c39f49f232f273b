import { describe, expect, it } from 'vitest'
import { setBounded } from '../src/bounded.js'

describe('setBounded', () => {
  it('keeps at most `max` entries, dropping the oldest; setting a key again makes it the newest', () => {
    const map = new Map<string, number>()
    for (const [i, key] of ['a', 'b', 'c'].entries()) setBounded(map, key, i, 3)
    setBounded(map, 'a', 10, 3)
    setBounded(map, 'd', 3, 3)
    expect([...map]).toEqual([
      ['c', 2],
      ['a', 10],
      ['d', 3],
    ])
  })
})
