import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import { createLimiter, type LimitsService, normalizeAddress } from '../rate-limit/index.js'

/** The counting lives in ../rate-limit/; this file adapts it to Fastify requests and hooks. */

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
 * The client a request is counted against: `request.ip`, which is the socket's peer address unless that peer is a
 * configured trusted proxy (OPENVESPER_TRUST_PROXY, Fastify's `trustProxy`), in which case it is the address the
 * proxy forwarded. Forwarded headers (X-Forwarded-For, Forwarded, X-Real-IP) from any other peer are ignored.
 */
export function clientAddress(request: FastifyRequest): string {
  const peer = request.raw.socket?.remoteAddress
  return normalizeAddress(request.ip ?? '') ?? (peer ? normalizeAddress(peer) : undefined) ?? 'unknown'
}

/** The limiter (../rate-limit/limits.ts) over the client of each request (`clientAddress`). */
export function createClientLimiter(limits: LimitsService, log: Pick<FastifyBaseLogger, 'warn' | 'info'>): ClientLimiter {
  const limiter = createLimiter(limits, log)
  return {
    request: (request) => limiter.request(clientAddress(request), request),
    check: (request) => limiter.check(clientAddress(request), request),
    failed: (request) => limiter.failed(clientAddress(request)),
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
