export interface Summary {
  n: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentiles of a sample (NaN when empty). */
export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b)
  const n = s.length
  const at = (p: number) => (n ? s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]! : NaN)
  return {
    n,
    mean: n ? s.reduce((a, b) => a + b, 0) / n : NaN,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: n ? s[n - 1]! : NaN,
  }
}

export const median = (values: number[]) => summarize(values).p50
