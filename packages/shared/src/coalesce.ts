import DataLoader from 'dataloader'

export interface CoalescerOptions {
  /** Most items in one batch. */
  maxBatch?: number
  /** Batches running at once; items asked for while this many run wait for one of them to return. */
  maxInFlight?: number
}

/**
 * Makes one call per item out of a batch operation, for statements that many runs make at the same moment (claims,
 * finishes). An item asked for while fewer than `maxInFlight` batches run goes out at the end of the current tick,
 * with every item asked for in that tick; items asked for meanwhile wait and go out together when a batch returns.
 * So an idle process sends each item at once, and a busy one sends fewer, larger statements.
 *
 * `run` returns one result per item, in order. When a batch of several items fails, each item is tried again alone,
 * so one bad item fails only its own caller.
 */
export function createCoalescer<I, O>(run: (items: readonly I[]) => Promise<O[]>, options: CoalescerOptions = {}): (item: I) => Promise<O> {
  const { maxBatch = 64, maxInFlight = 1 } = options
  let inFlight = 0
  const waiting: (() => void)[] = []
  const alone = (item: I): Promise<O | Error> =>
    run([item]).then(
      ([result]) => result as O,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    )
  const loader = new DataLoader<I, O, I>(
    async (items) => {
      inFlight++
      try {
        return await run(items)
      } catch (err) {
        if (items.length === 1) throw err
        return await Promise.all(items.map(alone))
      } finally {
        inFlight--
        waiting.shift()?.()
      }
    },
    {
      cache: false,
      maxBatchSize: maxBatch,
      // As DataLoader's own default: after the promise jobs of this tick, so callers continuing in them join too.
      batchScheduleFn: (dispatch) => {
        if (inFlight >= maxInFlight) waiting.push(dispatch)
        else void Promise.resolve().then(() => process.nextTick(dispatch))
      },
    },
  )
  return (item) => loader.load(item)
}
