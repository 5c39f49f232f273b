import { describe, expect, it } from 'vitest'
import { createCoalescer } from '../src/coalesce.js'

/** A batch operation that records its batches and answers when `release()` is called (or at once). */
function recorder(options: { hold?: boolean; failWhen?: (items: readonly number[]) => boolean } = {}) {
  const batches: number[][] = []
  const held: (() => void)[] = []
  const run = async (items: readonly number[]) => {
    batches.push([...items])
    if (options.hold) await new Promise<void>((resolve) => held.push(resolve))
    if (options.failWhen?.(items)) throw new Error(`batch ${items.join(',')} failed`)
    return items.map((n) => n * 10)
  }
  return {
    batches,
    run,
    release: () => {
      for (const r of held.splice(0)) r()
    },
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('createCoalescer', () => {
  it('sends a lone call at once, by itself, and calls made in one tick together', async () => {
    const r = recorder()
    const call = createCoalescer(r.run)
    expect(await call(1)).toBe(10)
    expect(await Promise.all([call(2), call(3), call(4)])).toEqual([20, 30, 40])
    expect(r.batches).toEqual([[1], [2, 3, 4]])
  })

  it('holds calls made while a batch is in flight and sends them together when it returns', async () => {
    const r = recorder({ hold: true })
    const call = createCoalescer(r.run)
    const first = call(1)
    await tick()
    expect(r.batches).toEqual([[1]])
    const later = [call(2), call(3)]
    await tick()
    const evenLater = call(4)
    await tick()
    expect(r.batches).toEqual([[1]]) // still one in flight
    r.release()
    expect(await first).toBe(10)
    await tick()
    expect(r.batches).toEqual([[1], [2, 3, 4]])
    r.release()
    expect(await Promise.all([...later, evenLater])).toEqual([20, 30, 40])
  })

  it('allows maxInFlight batches at once and caps each batch at maxBatch items', async () => {
    const r = recorder({ hold: true })
    const call = createCoalescer(r.run, { maxInFlight: 2, maxBatch: 2 })
    const calls = [call(1)]
    await tick()
    calls.push(call(2))
    await tick()
    expect(r.batches).toEqual([[1], [2]])
    calls.push(call(3), call(4), call(5))
    await tick()
    expect(r.batches).toHaveLength(2)
    r.release()
    await tick()
    await tick()
    expect(r.batches.slice(2)).toEqual([[3, 4], [5]])
    r.release()
    expect(await Promise.all(calls)).toEqual([10, 20, 30, 40, 50])
  })

  it('retries the items of a failed batch one by one, so only the bad one fails', async () => {
    const r = recorder({ failWhen: (items) => items.includes(13) })
    const call = createCoalescer(r.run)
    const results = await Promise.allSettled([call(11), call(12), call(13)])
    expect(results.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message))).toEqual([110, 120, 'batch 13 failed'])
    expect(r.batches).toEqual([[11, 12, 13], [11], [12], [13]])
    // A lone call's failure is its own.
    await expect(call(13)).rejects.toThrow('batch 13 failed')
  })
})
