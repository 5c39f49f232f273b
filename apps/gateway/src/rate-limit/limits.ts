import type { WindowLimit } from '@openvesper/config'
import type { CounterStore, CounterWindow } from '@openvesper/queue'
import { AppError, isAppError, type Logger, setBounded } from '@openvesper/shared'
import { createFailureBook, type FailureBook, MAX_TRACKED_CLIENTS } from './failure-book.js'

/** What the runtime hands the HTTP layer (`services.limits`): the shared counters and the configured limits. */
export interface LimitsService {
  /** Redis in server mode (shared by every gateway on the prefix), in-process in embedded mode. */
  counters: CounterStore
  /** Global per-client request limit (OPENVESPER_RATE_LIMIT). */
  requests: WindowLimit
  /** Failed authentications per client before it is throttled (OPENVESPER_AUTH_FAIL_LIMIT). */
  authFailures: WindowLimit
  /** Server mode: the failed-authentication counts this process knows of, kept in step through the bus. */
  failures?: FailureBook
}

/**
 * Per-client counting over one client's canonical address (`normalizeAddress`). `request` stands for the request
 * being counted: in-process, `check` reuses the failure window `request` read for the same one.
 */
export interface Limiter {
  /** Counts one request against the client's global limit; throws 429 `rate_limited` (with Retry-After) above it. */
  request(address: string, request: object): Promise<void>
  /** Throws 429 `rate_limited` (with Retry-After) while the client has used up its failure budget. */
  check(address: string, request: object): Promise<void>
  /** Counts one failed authentication (a 401) against the client. */
  failed(address: string): Promise<void>
}

const retryAfterSeconds = (resetAtMs: number): number => Math.max(1, Math.ceil((resetAtMs - Date.now()) / 1000))

function rateLimited(message: string, resetAtMs: number): AppError {
  const seconds = retryAfterSeconds(resetAtMs)
  return new AppError('rate_limited', `${message}; retry in ${seconds} s`, { details: { retryAfterSeconds: seconds } })
}

/** Largest lease, and the share of the limit one lease may be (see `leaseSize`). */
const MAX_LEASE = 64
const LEASE_SHARE = 32

/**
 * How many of a client's requests one gateway takes from the shared window at a time: 1/32 of the limit, between
 * 1 and 64. Limits below 64 are exact on every gateway. Above, a gateway may hold up to that many unused requests
 * when a client moves to another gateway, so the client can be refused that much early there; never late.
 */
export const leaseSize = (limit: number): number => Math.min(MAX_LEASE, Math.max(1, Math.floor(limit / LEASE_SHARE)))

interface Lease {
  remaining: number
  resetAtMs: number
  /** The last take got less than it asked for: the window is used up once `remaining` is. */
  exhausted: boolean
  /** The take in flight (false when the store is unavailable); concurrent requests wait for it. */
  taking?: Promise<boolean>
}

/**
 * Per-client limits over the counter store.
 *
 * In-process (embedded mode) every request is counted and checked exactly. On Redis (server mode, shared by every
 * gateway) a gateway takes a client's requests from the shared window in leases (`leaseSize`) and spends them
 * locally, so most requests make no round trip; the window is never exceeded. Failed authentications are always
 * counted in Redis. A gateway refuses a client it knows to be over its budget without asking, checks the shared
 * count for clients it has seen fail, and announces a client whose count reaches the budget (`FailureBook`) before
 * answering, so every gateway refuses it from then on; a lease refill also reads the client's failure count.
 *
 * The store being unavailable (Redis down: its `unavailable` errors) never fails a request: limits are not enforced
 * until it is back (tokens are still verified), and the outage is logged once, as is the recovery. Any other error
 * (a store that was never started) propagates. `limits` is read on each call, never while the app is built.
 */
export function createLimiter(limits: LimitsService, log: Pick<Logger, 'warn' | 'info'>): Limiter {
  let degraded = false
  async function counted<T>(operation: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await operation()
      if (degraded) {
        degraded = false
        log.info('rate limits: the counter store is reachable again; limits are enforced')
      }
      return result
    } catch (err) {
      if (!(isAppError(err) && err.code === 'unavailable')) throw err
      if (!degraded) {
        degraded = true
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rate limits: counter store unavailable; requests are not limited until it is back')
      }
      return undefined
    }
  }
  const shared = () => limits.counters.kind === 'redis'
  const failKey = (address: string) => `authfail:${address}`
  const peekAuthFailures = (address: string) => counted(() => limits.counters.peek(failKey(address)))

  // ---- In-process store: the failure window is read with each request's count.
  const authFailWindows = new WeakMap<object, Promise<CounterWindow | undefined>>()

  // ---- Shared store: leases, and the failure counts this gateway knows of.
  const leases = new Map<string, Lease>()
  const failures = limits.failures ?? createFailureBook({})

  /** Takes a lease for `address` (its failure count is read in the same write); false when the store is unavailable. */
  async function refill(address: string, lease: Lease): Promise<boolean> {
    const { counters, requests } = limits
    const want = leaseSize(requests.limit)
    const failed = peekAuthFailures(address)
    failed.catch(() => {})
    const taken = await counted(() => counters.take(`req:${address}`, requests.windowMs, requests.limit, want))
    const window = await failed
    if (window) failures.note(address, window)
    if (!taken) return false
    lease.remaining = taken.granted
    lease.resetAtMs = taken.resetAtMs
    lease.exhausted = taken.granted < want
    return true
  }

  async function spendLease(address: string): Promise<void> {
    for (;;) {
      let lease = leases.get(address)
      if (lease && !lease.taking && lease.resetAtMs <= Date.now()) lease = undefined // its window closed
      if (lease?.taking) {
        if (!(await lease.taking)) return // store unavailable: not limited
        continue
      }
      if (lease && lease.remaining > 0) {
        lease.remaining--
        return
      }
      if (lease?.exhausted) throw rateLimited('too many requests from this client', lease.resetAtMs)
      const fresh: Lease = { remaining: 0, resetAtMs: 0, exhausted: false }
      setBounded(leases, address, fresh, MAX_TRACKED_CLIENTS)
      fresh.taking = refill(address, fresh).finally(() => (fresh.taking = undefined))
    }
  }

  return {
    async request(address, request) {
      if (shared()) return spendLease(address)
      const { counters, requests } = limits
      const failed = peekAuthFailures(address)
      failed.catch(() => {})
      authFailWindows.set(request, failed)
      const window = await counted(() => counters.hit(`req:${address}`, requests.windowMs))
      if (window && window.count > requests.limit) throw rateLimited('too many requests from this client', window.resetAtMs)
    },
    async check(address, request) {
      const { authFailures } = limits
      let window: CounterWindow | undefined
      if (!shared()) window = await (authFailWindows.get(request) ?? peekAuthFailures(address))
      else {
        const known = failures.get(address)
        if (!known) return // no failure seen here, none announced
        window = known
        // Failures below the budget on record: the shared count decides (other gateways may have added to it).
        if (known.count < authFailures.limit) {
          window = await peekAuthFailures(address)
          if (window) failures.note(address, window)
        }
      }
      if (window && window.count >= authFailures.limit) throw rateLimited('too many failed authentications from this client', window.resetAtMs)
    },
    async failed(address) {
      const { counters, authFailures } = limits
      const window = await counted(() => counters.hit(failKey(address), authFailures.windowMs))
      if (!window || !shared()) return
      // Announced before the 401 leaves, so the client's next request is refused on every gateway.
      if (window.count >= authFailures.limit) await failures.announce(address, window)
      else failures.note(address, window)
    },
  }
}
