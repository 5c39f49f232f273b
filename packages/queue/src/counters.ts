/**
 * Fixed-window counters for rate limits: Redis (server mode, shared by every gateway on the prefix; redis-counters.ts)
 * and in-process (embedded mode). A window opens on a key's first hit and lasts `windowMs`; the next hit after it
 * closes opens a new one. Both adapters do no I/O on construction, connect in `start()` and fail fast: a Redis outage is a rejected
 * promise within ~1 s, never a hang (the caller decides whether that allows or refuses the request).
 */
import { createLifecycle } from './internal.js'

export interface CounterWindow {
  /** Hits counted in the current window (0 when no window is open). */
  count: number
  /** When the current window closes (epoch ms); now when no window is open. */
  resetAtMs: number
}

export interface CounterTake extends CounterWindow {
  granted: number
}

export interface CounterStore {
  readonly kind: 'redis' | 'inprocess'
  /** Connects (Redis); construction does no I/O. */
  start(): Promise<void>
  /** Counts one hit on `key`, opening a `windowMs` window if none is open, and returns the window after the hit. */
  hit(key: string, windowMs: number): Promise<CounterWindow>
  /**
   * Takes up to `want` of the `limit` hits the current window of `key` allows, opening a `windowMs` window if none
   * is open: `granted` is how many it got (0 once the window is used up) and `count` the window's hits after the take.
   * Rate limiters take a few hits at once and spend them locally, so most requests need no round trip.
   */
  take(key: string, windowMs: number, limit: number, want: number): Promise<CounterTake>
  /** The current window of `key`, without counting. */
  peek(key: string): Promise<CounterWindow>
  close(): Promise<void>
}

export function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new Error('counter store: key must be a non-empty string')
}

export function assertWindow(windowMs: number): void {
  if (!Number.isInteger(windowMs) || windowMs < 1) throw new Error(`counter store: windowMs must be an integer >= 1 (got ${String(windowMs)})`)
}

export function assertTake(limit: number, want: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`counter store: limit must be an integer >= 1 (got ${String(limit)})`)
  if (!Number.isInteger(want) || want < 1) throw new Error(`counter store: want must be an integer >= 1 (got ${String(want)})`)
}

export interface InProcessCounterStoreOptions {
  /** Epoch milliseconds; tests pass a manual clock to close windows without waiting. */
  now?: () => number
  /**
   * Most keys held at once (each distinct client is a key): when full, expired windows are dropped first, then the
   * oldest windows. Bounds memory when many addresses (an IPv6 range) send requests.
   */
  maxKeys?: number
  /** How often expired windows are swept while started. */
  sweepIntervalMs?: number
}

/** Embedded-mode counters: one process, one map. */
export function createInProcessCounterStore(options: InProcessCounterStoreOptions = {}): CounterStore {
  const now = options.now ?? Date.now
  const maxKeys = options.maxKeys ?? 100_000
  const sweepIntervalMs = options.sweepIntervalMs ?? 30_000
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error(`counter store: maxKeys must be an integer >= 1 (got ${String(maxKeys)})`)
  const windows = new Map<string, { count: number; resetAtMs: number }>()
  const lifecycle = createLifecycle('counter store', 'counters')
  let sweeper: NodeJS.Timeout | undefined

  function sweep(at: number): void {
    for (const [key, window] of windows) if (window.resetAtMs <= at) windows.delete(key)
  }

  function makeRoom(at: number): void {
    if (windows.size < maxKeys) return
    sweep(at)
    // Map iteration is insertion order: the first keys hold the oldest windows.
    for (const key of windows.keys()) {
      if (windows.size < maxKeys) break
      windows.delete(key)
    }
  }

  /** The open window of `key`, or a new one (count 0) when none is open. */
  function openWindow(key: string, windowMs: number): { count: number; resetAtMs: number } {
    const at = now()
    let window = windows.get(key)
    if (!window || window.resetAtMs <= at) {
      windows.delete(key)
      makeRoom(at)
      window = { count: 0, resetAtMs: at + windowMs }
      windows.set(key, window)
    }
    return window
  }

  return {
    kind: 'inprocess',

    async start() {
      await lifecycle.start()
      sweeper = setInterval(() => sweep(now()), sweepIntervalMs)
      sweeper.unref()
    },

    async hit(key, windowMs) {
      assertKey(key)
      assertWindow(windowMs)
      lifecycle.assertStarted('hit')
      const window = openWindow(key, windowMs)
      window.count++
      return { count: window.count, resetAtMs: window.resetAtMs }
    },

    async take(key, windowMs, limit, want) {
      assertKey(key)
      assertWindow(windowMs)
      assertTake(limit, want)
      lifecycle.assertStarted('take')
      const window = openWindow(key, windowMs)
      const granted = Math.max(0, Math.min(want, limit - window.count))
      window.count += granted
      return { granted, count: window.count, resetAtMs: window.resetAtMs }
    },

    async peek(key) {
      assertKey(key)
      lifecycle.assertStarted('peek')
      const at = now()
      const window = windows.get(key)
      if (!window || window.resetAtMs <= at) return { count: 0, resetAtMs: at }
      return { count: window.count, resetAtMs: window.resetAtMs }
    },

    async close() {
      if (!lifecycle.close()) return
      clearInterval(sweeper)
      windows.clear()
    },
  }
}
