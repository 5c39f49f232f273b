import { describe, expect, it } from 'vitest'
import { reciprocalRankFusion, RRF_K } from './fusion.js'

describe('reciprocal-rank fusion', () => {
  it('ranks an item both lists hold above items only one list holds', () => {
    const fused = reciprocalRankFusion([{ ids: ['a', 'b', 'c'] }, { ids: ['d', 'c', 'e'] }])
    expect(fused[0]).toEqual({ id: 'c', score: 1 / (RRF_K + 3) + 1 / (RRF_K + 2) })
    expect(fused.map((f) => f.id)).toEqual(['c', 'a', 'd', 'b', 'e'])
  })

  it('keeps a single list in its order with 1/(k+rank) scores', () => {
    expect(reciprocalRankFusion([{ ids: ['x', 'y'] }])).toEqual([
      { id: 'x', score: 1 / (RRF_K + 1) },
      { id: 'y', score: 1 / (RRF_K + 2) },
    ])
  })

  it('answers nothing for empty lists', () => {
    expect(reciprocalRankFusion([{ ids: [] }, { ids: [] }])).toEqual([])
  })
})
