/**
 * Reciprocal-rank fusion: each list votes 1 / (k + rank) for its items (rank from 1); an item's score is the sum of
 * its votes. k = 60 as in Cormack et al. (2009). Ties keep the order of first appearance (the full-text list first).
 */
export const RRF_K = 60

export interface RankedList {
  /** Item ids, best first. */
  ids: readonly string[]
}

export function reciprocalRankFusion(lists: readonly RankedList[], k = RRF_K): { id: string; score: number }[] {
  const scores = new Map<string, number>()
  for (const list of lists) {
    list.ids.forEach((id, i) => {
      scores.set(id, (scores.get(id) ?? 0) + 1 / (k + i + 1))
    })
  }
  // Map keeps insertion order and sort is stable: equal scores stay in order of first appearance.
  return [...scores.entries()].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score)
}
