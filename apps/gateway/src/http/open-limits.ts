import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { AppError } from '@openvesper/shared'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { normalizeAddress } from '../rate-limit/index.js'

/**
 * Caps on what one client holds open at once in this process (OPENVESPER_SSE_STREAMS_PER_TOKEN,
 * OPENVESPER_CONNECTIONS_PER_ADDRESS; the WebSocket subscription cap is the transport's, ws.ts). Past a cap the
 * answer is a 429 with Retry-After, before anything is created.
 */

/** Retry-After of a refused stream or connection: long-lived resources free up slowly. */
export const OPEN_LIMIT_RETRY_AFTER_S = 5

export const openLimitError = (message: string) => new AppError('rate_limited', message, { details: { retryAfterSeconds: OPEN_LIMIT_RETRY_AFTER_S } })

/** Counts per key, bounded by `max`: `acquire` is false at the cap. */
export function createSlots(max: number) {
  const counts = new Map<string, number>()
  return {
    acquire(key: string): boolean {
      const n = counts.get(key) ?? 0
      if (n >= max) return false
      counts.set(key, n + 1)
      return true
    },
    release(key: string): void {
      const n = counts.get(key) ?? 0
      if (n <= 1) counts.delete(key)
      else counts.set(key, n - 1)
    },
    count: (key: string) => counts.get(key) ?? 0,
  }
}

/**
 * Every SSE route (`auth.streaming` without a WebSocket upgrade) holds one of its token's `max` stream slots from
 * its preHandler until the response closes; past the cap it is a 429 before the handler (no run is created).
 * Register before the routes (an `onRoute` hook).
 */
export function registerSseStreamCap(app: FastifyInstance, max: number): void {
  const slots = createSlots(max)
  const hold = async (request: FastifyRequest, reply: FastifyReply) => {
    const tokenId = request.principal?.tokenId
    if (!tokenId) return
    if (!slots.acquire(tokenId)) throw openLimitError(`at most ${max} open event streams per token; close one or retry later`)
    // The response closes when the stream ends, the client leaves or an error was answered instead.
    reply.raw.once('close', () => slots.release(tokenId))
  }
  app.addHook('onRoute', (route: RouteOptions) => {
    const auth = route.config?.auth as { streaming?: boolean } | undefined
    if (auth?.streaming !== true || (route as { websocket?: boolean }).websocket === true) return
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [hold, ...existing] as RouteOptions['preHandler']
  })
}

/**
 * At most `max` open connections per peer address (0: no cap). A connection past it is answered 429 (with
 * Retry-After and `connection: close`) on its first request and closed; one that sends no request within
 * OVER_CAP_GRACE_MS is destroyed. Injected requests (tests) open no connection and are not counted.
 */
const OVER_CAP_GRACE_MS = 2000
const overCap = new WeakSet<object>()

export function capConnectionsPerAddress(app: FastifyInstance, server: Server, max: number): void {
  if (max <= 0) return
  const slots = createSlots(max)
  server.prependListener('connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress ?? '') ?? 'unknown'
    if (slots.acquire(address)) {
      socket.once('close', () => slots.release(address))
      return
    }
    overCap.add(socket)
    setTimeout(() => socket.destroy(), OVER_CAP_GRACE_MS).unref()
  })
  app.addHook('onRequest', async (request, reply) => {
    if (!overCap.has(request.raw.socket)) return
    reply.header('connection', 'close')
    throw openLimitError(`at most ${max} open connections per client address`)
  })
}
