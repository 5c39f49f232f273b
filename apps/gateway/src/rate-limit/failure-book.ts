import type { CounterWindow, EventBus } from '@openvesper/queue'
import { type Logger, setBounded, silentLogger } from '@openvesper/shared'
import { normalizeAddress } from './address.js'

/** Bus channel where a gateway announces a client that used up its failed-authentication budget (server mode). */
export const AUTH_THROTTLED_CHANNEL = 'limits:auth-throttled'
/** Most clients whose lease or failure count a gateway remembers; the oldest entry goes first. */
export const MAX_TRACKED_CLIENTS = 10_000

/**
 * The failed-authentication windows one process knows of (server mode): its own counts, and the clients other
 * gateways announced on the bus (`AUTH_THROTTLED_CHANNEL`) when their count reached the budget. Owned by the
 * runtime, which starts it (subscribes) for the HTTP roles.
 */
export interface FailureBook {
  get(address: string): CounterWindow | undefined
  note(address: string, window: CounterWindow): void
  /** Tells every gateway, this one included, that `address` has used up its budget until `window.resetAtMs`. */
  announce(address: string, window: CounterWindow): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

export function createFailureBook({ bus, log = silentLogger }: { bus?: EventBus; log?: Logger }): FailureBook {
  const windows = new Map<string, CounterWindow>()
  let unsubscribe: (() => Promise<void>) | undefined
  const note = (address: string, window: CounterWindow) => {
    if (window.count > 0 && window.resetAtMs > Date.now())
      setBounded(windows, address, { count: window.count, resetAtMs: window.resetAtMs }, MAX_TRACKED_CLIENTS)
    else windows.delete(address)
  }
  const announced = (message: string) => {
    let notice: { address?: unknown; count?: unknown; resetAtMs?: unknown }
    try {
      notice = JSON.parse(message) as typeof notice
    } catch {
      return
    }
    const address = typeof notice.address === 'string' ? normalizeAddress(notice.address) : undefined
    const { count, resetAtMs } = notice
    if (!address || typeof count !== 'number' || !Number.isFinite(count) || typeof resetAtMs !== 'number' || !Number.isFinite(resetAtMs)) return
    // No window is longer than a day: a later reset is not believed.
    if (resetAtMs > Date.now() + 86_400_000) return
    note(address, { count, resetAtMs })
  }
  return {
    get(address) {
      const window = windows.get(address)
      if (!window || window.resetAtMs > Date.now()) return window
      windows.delete(address)
      return undefined
    },
    note,
    async announce(address, window) {
      note(address, window)
      await bus?.publish(AUTH_THROTTLED_CHANNEL, JSON.stringify({ address, count: window.count, resetAtMs: window.resetAtMs })).catch((err) => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rate limits: a throttled client was not announced to the other gateways')
      })
    },
    async start() {
      if (bus && !unsubscribe) unsubscribe = await bus.subscribe(AUTH_THROTTLED_CHANNEL, announced)
    },
    async stop() {
      const stop = unsubscribe
      unsubscribe = undefined
      await stop?.().catch(() => {})
    },
  }
}
