import { isIP } from 'node:net'
import type { WindowLimit } from '@openvesper/config'
import type { CounterStore, CounterWindow, EventBus } from '@openvesper/queue'
import { AppError, isAppError, type Logger, setBounded, silentLogger } from '@openvesper/shared'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'

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

/** The failed-authentication throttle the auth hook calls (A08). */
export interface AuthThrottle {
  /** Throws 429 `rate_limited` (with Retry-After) while the client has used up its failure budget. */
  check(request: FastifyRequest): Promise<void>
  /** Counts one failed authentication (a 401) against the client. */
  failed(request: FastifyRequest): Promise<void>
}

export interface ClientLimiter extends AuthThrottle {
  /** Counts one request against the client's global limit; throws 429 `rate_limited` (with Retry-After) above it. */
  request(request: FastifyRequest): Promise<void>
}

/**
 * An address in one canonical form, so one client is one bucket however its address is written: IPv4 as is,
 * IPv6 compressed and lowercase, IPv4-mapped IPv6 (`::ffff:192.0.2.1`, `::ffff:c000:201`) as the IPv4 address.
 * Undefined when `raw` is not an IP address.
 */
export function normalizeAddress(raw: string): string | undefined {
  const address = raw.trim()
  const family = isIP(address)
  if (family === 4) return address
  if (family !== 6) return undefined
  let host: string
  try {
    host = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return address.toLowerCase() // a zone id (fe80::1%eth0), which URL does not accept
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (!mapped) return host
  const high = Number.parseInt(mapped[1]!, 16)
  const low = Number.parseInt(mapped[2]!, 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

/**
 * The client a request is counted against: `request.ip`, which is the socket's peer address unless that peer is a
 * configured trusted proxy (OPENVESPER_TRUST_PROXY, Fastify's `trustProxy`), in which case it is the address the
 * proxy forwarded. Forwarded headers (X-Forwarded-For, Forwarded, X-Real-IP) from any other peer are ignored.
 */
export function clientAddress(request: FastifyRequest): string {
  const peer = request.raw.socket?.remoteAddress
  return normalizeAddress(request.ip ?? '') ?? (peer ? normalizeAddress(peer) : undefined) ?? 'unknown'
}

const retryAfterSeconds = (resetAtMs: number): number => Math.max(1, Math.ceil((resetAtMs - Date.now()) / 1000))

function rateLimited(message: string, resetAtMs: number): AppError {
  const seconds = retryAfterSeconds(resetAtMs)
  return new AppError('rate_limited', `${message}; retry in ${seconds} s`, { details: { retryAfterSeconds: seconds } })
}

/** Bus channel where a gateway announces a client that used up its failed-authentication budget (server mode). */
export const AUTH_THROTTLED_CHANNEL = 'limits:auth-throttled'
/** Most clients whose lease or failure count a gateway remembers; the oldest entry goes first. */
const MAX_TRACKED_CLIENTS = 10_000
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
    if (window.count > 0 && window.resetAtMs > Date.now()) setBounded(windows, address, { count: window.count, resetAtMs: window.resetAtMs }, MAX_TRACKED_CLIENTS)
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
export function createClientLimiter(limits: LimitsService, log: Pick<FastifyBaseLogger, 'warn' | 'info'>): ClientLimiter {
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
  const authFailWindows = new WeakMap<FastifyRequest, Promise<CounterWindow | undefined>>()

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
    async request(request) {
      const address = clientAddress(request)
      if (shared()) return spendLease(address)
      const { counters, requests } = limits
      const failed = peekAuthFailures(address)
      failed.catch(() => {})
      authFailWindows.set(request, failed)
      const window = await counted(() => counters.hit(`req:${address}`, requests.windowMs))
      if (window && window.count > requests.limit) throw rateLimited('too many requests from this client', window.resetAtMs)
    },
    async check(request) {
      const { authFailures } = limits
      const address = clientAddress(request)
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
    async failed(request) {
      const { counters, authFailures } = limits
      const address = clientAddress(request)
      const window = await counted(() => counters.hit(failKey(address), authFailures.windowMs))
      if (!window || !shared()) return
      // Announced before the 401 leaves, so the client's next request is refused on every gateway.
      if (window.count >= authFailures.limit) await failures.announce(address, window)
      else failures.note(address, window)
    },
  }
}

/** Only the liveness probe is exempt from the global limit (GET, and the HEAD Fastify derives from it). */
const isHealthCheck = (request: FastifyRequest): boolean =>
  !request.is404 && request.routeOptions.url === '/health' && (request.method === 'GET' || request.method === 'HEAD')

/**
 * The global per-client request limit (A20): an `onRequest` hook counting every request except GET /health. Register
 * it before the auth hook, so floods are refused before any credential is looked up.
 */
export function registerRateLimit(app: FastifyInstance, limiter: ClientLimiter): void {
  app.addHook('onRequest', async (request) => {
    if (isHealthCheck(request)) return
    await limiter.request(request)
  })
}
