import { isIP } from 'node:net'
import type { WindowLimit } from '@openvesper/config'
import type { CounterStore, CounterWindow } from '@openvesper/queue'
import { AppError, isAppError } from '@openvesper/shared'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'

/** What the runtime hands the HTTP layer (`services.limits`): the shared counters and the configured limits. */
export interface LimitsService {
  /** Redis in server mode (shared by every gateway on the prefix), in-process in embedded mode. */
  counters: CounterStore
  /** Global per-client request limit (OPENVESPER_RATE_LIMIT). */
  requests: WindowLimit
  /** Failed authentications per client before it is throttled (OPENVESPER_AUTH_FAIL_LIMIT). */
  authFailures: WindowLimit
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

/**
 * Per-client limits over the counter store. The store being unavailable (Redis down: its `unavailable` errors) never
 * fails a request: limits are not enforced until it is back (tokens are still verified), and the outage is logged
 * once, as is the recovery. Any other error (a store that was never started) propagates. `limits` is read on each
 * call, never while the app is built.
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

  /** The auth-failure window, read together with the request count (one round trip for both). */
  const authFailWindows = new WeakMap<FastifyRequest, Promise<CounterWindow | undefined>>()
  const peekAuthFailures = (request: FastifyRequest) => counted(() => limits.counters.peek(`authfail:${clientAddress(request)}`))

  return {
    async request(request) {
      const { counters, requests } = limits
      const failures = peekAuthFailures(request)
      failures.catch(() => {})
      authFailWindows.set(request, failures)
      const window = await counted(() => counters.hit(`req:${clientAddress(request)}`, requests.windowMs))
      if (window && window.count > requests.limit) throw rateLimited('too many requests from this client', window.resetAtMs)
    },
    async check(request) {
      const { authFailures } = limits
      const window = await (authFailWindows.get(request) ?? peekAuthFailures(request))
      if (window && window.count >= authFailures.limit) throw rateLimited('too many failed authentications from this client', window.resetAtMs)
    },
    async failed(request) {
      const { counters, authFailures } = limits
      await counted(() => counters.hit(`authfail:${clientAddress(request)}`, authFailures.windowMs))
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
