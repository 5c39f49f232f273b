import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '@openvesper/shared'
import { Type } from 'typebox'
import type { WebSocket } from 'ws'
import type { TokensService } from '@openvesper/access'
import { watchCredential } from './credential-watch.js'
import { RPC, type Notify, type RpcConnection, type RpcDispatcher, rpcError } from './rpc.js'
import { OPEN_LIMIT_RETRY_AFTER_S, openLimitError } from './open-limits.js'
import { createStreamGuard, type StreamLimits } from './stream-guard.js'

/** Largest inbound WebSocket message; larger ones close the socket with 1009. */
export const WS_MAX_PAYLOAD = 1024 * 1024
/** How long a client dropped for being too slow gets for the close handshake before its socket is destroyed. */
const WS_SLOW_CLOSE_GRACE_MS = 5000
/** Unsent bytes past which subscriptions wait for the client before sending their next event. */
const WS_HIGH_WATER_BYTES = 64 * 1024
export const WS_PING_INTERVAL_MS = 30_000
/** Messages one token may send per second over all its sockets in this process (token bucket)… */
export const WS_MESSAGES_PER_SECOND = 20
/** …with this burst. Excess messages get a rate_limited error and are not processed. */
export const WS_MESSAGE_BURST = 40
/** A socket that keeps sending this many refused messages is closed with 1008. */
export const WS_MAX_REFUSED_MESSAGES = 100
/** Open sockets per token in this process; the next upgrade is refused with 429. */
export const WS_MAX_CONNECTIONS_PER_TOKEN = 16

/** A token bucket per token id: the budget is per token, so more sockets do not multiply it. */
function createMessageBudget(ratePerSecond: number, burst: number) {
  const buckets = new Map<string, { tokens: number; at: number; sockets: number }>()
  return {
    open(tokenId: string): number {
      const b = buckets.get(tokenId) ?? { tokens: burst, at: Date.now(), sockets: 0 }
      b.sockets++
      buckets.set(tokenId, b)
      return b.sockets
    },
    close(tokenId: string): void {
      const b = buckets.get(tokenId)
      if (b && --b.sockets <= 0) buckets.delete(tokenId)
    },
    sockets: (tokenId: string) => buckets.get(tokenId)?.sockets ?? 0,
    take(tokenId: string): boolean {
      const b = buckets.get(tokenId)
      if (!b) return false
      const now = Date.now()
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond)
      b.at = now
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
  }
}

export interface WsOptions {
  tokens: TokensService
  streams: StreamLimits
  /** Runs one socket may follow at once (OPENVESPER_WS_SUBSCRIPTIONS_PER_SOCKET). */
  maxSubscriptions: number
  rpc: RpcDispatcher
  /** What the methods do, for the route's OpenAPI description (each group's `rpcDescription`). */
  methodsDescription: string
}

/**
 * `GET /ws`: the WebSocket transport. Authentication, a per-token message budget and socket cap, keep-alive pings,
 * revocation, slow-client dropping and notification backpressure live here; what a message does is the
 * dispatcher's (each group's methods in `routes/<group>/rpc.ts`).
 */
export const wsTransport: FastifyPluginAsyncTypebox<WsOptions> = async (app, { tokens, streams, maxSubscriptions, rpc, methodsDescription }) => {
  const budget = createMessageBudget(WS_MESSAGES_PER_SECOND, WS_MESSAGE_BURST)

  app.get(
    '/ws',
    {
      websocket: true,
      schema: {
        operationId: 'connectWebSocket',
        summary: 'WebSocket: JSON-RPC 2.0 calls and run event notifications',
        description: `Upgrade to a WebSocket (token in the Authorization header or ?token=). Methods: ${methodsDescription} A client that reads none of what waits for it for OPENVESPER_STREAM_STALL_MS (20 s) is closed with 1013; it resumes with run.subscribe {runId, afterSeq}.`,
        tags: ['Runs'],
        querystring: Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: false }),
        response: { 101: { description: 'Switching Protocols' } },
      },
      config: { auth: { scopes: ['runs:read'], streaming: true } },
      // Before the 101: a token already holding its maximum of sockets is refused.
      preHandler: async (request) => {
        if (budget.sockets(request.principal.tokenId) >= WS_MAX_CONNECTIONS_PER_TOKEN)
          throw openLimitError(`at most ${WS_MAX_CONNECTIONS_PER_TOKEN} WebSocket connections per token`)
      },
    },
    (socket: WebSocket, request) => {
      const tokenId = request.principal.tokenId
      budget.open(tokenId)
      let refused = 0
      const following = new Map<string, AbortController>()
      /** Slots held by calls that will follow a run once it exists (`reserveFollow`). */
      let reserved = 0
      // Revoking the token closes the socket with 1008 (policy violation) within CREDENTIAL_RECHECK_MS.
      const unwatch = watchCredential(tokens, tokenId, () => socket.close(1008, 'credential revoked'))
      let alive = true
      const ping = setInterval(() => {
        if (!alive) return socket.terminate()
        alive = false
        socket.ping()
      }, WS_PING_INTERVAL_MS)
      socket.on('pong', () => (alive = true))

      // A client that stops reading is closed with 1013 (try again later) and resumes with run.subscribe {afterSeq}.
      const guard = createStreamGuard(streams, {
        buffered: () => socket.bufferedAmount,
        drop(reason, bufferedBytes) {
          request.log.warn({ reason, bufferedBytes }, 'WebSocket client too slow: closing')
          socket.close(1013, 'client too slow')
          // A client that reads nothing never answers the close frame either.
          setTimeout(() => socket.terminate(), WS_SLOW_CLOSE_GRACE_MS).unref()
        },
      })
      /** `sent` is called once the message left the process, or at once when it is not sent. */
      const send = (payload: unknown, sent?: () => void) => {
        const data = JSON.stringify(payload)
        const written =
          socket.readyState === socket.OPEN &&
          guard.send((done) =>
            socket.send(data, (err) => {
              done(err)
              sent?.()
            }),
          )
        if (!written) sent?.()
      }
      // Backpressure: past WS_HIGH_WATER_BYTES unsent, notifications wait until the last one sent left the process.
      let lastSent: Promise<void> = Promise.resolve()
      const notify: Notify = async (method, params) => {
        if (socket.bufferedAmount >= WS_HIGH_WATER_BYTES) await lastSent
        lastSent = new Promise<void>((resolve) => send({ jsonrpc: '2.0', method, params }, resolve))
      }

      const conn: RpcConnection = {
        principal: request.principal,
        requestId: String(request.id),
        log: request.log,
        isOpen: () => socket.readyState === socket.OPEN,
        reserveFollow() {
          if (following.size + reserved >= maxSubscriptions)
            throw new AppError('rate_limited', `at most ${maxSubscriptions} subscriptions per WebSocket; unsubscribe from one first`, {
              details: { retryAfterSeconds: OPEN_LIMIT_RETRY_AFTER_S },
            })
          reserved++
          let held = true
          return () => {
            if (held) reserved--
            held = false
          }
        },
        follow(key, source, reservation) {
          reservation?.()
          if (following.has(key)) return
          // Unreachable through reserveFollow; a caller that skipped it is held to the cap all the same.
          if (following.size + reserved >= maxSubscriptions) return
          const ctrl = new AbortController()
          following.set(key, ctrl)
          void source(notify, ctrl.signal)
            .catch((err) => request.log.warn({ err, key }, 'ws subscription failed'))
            .finally(() => following.delete(key))
        },
        unfollow: (key) => following.get(key)?.abort(),
        followed: () => [...following.keys()],
      }

      socket.on('message', (data, isBinary) => {
        if (!budget.take(tokenId)) {
          if (++refused >= WS_MAX_REFUSED_MESSAGES) return socket.close(1008, 'message rate limit exceeded')
          return send(rpcError(null, RPC.rateLimited, 'rate limited: too many messages', { code: 'rate_limited' }))
        }
        if (isBinary) return send(rpcError(null, RPC.invalidRequest, 'binary messages are not accepted'))
        void rpc.dispatch(data.toString('utf8'), conn).then((reply) => reply && send(reply))
      })

      socket.on('close', () => {
        guard.close()
        budget.close(tokenId)
        unwatch()
        clearInterval(ping)
        for (const ctrl of following.values()) ctrl.abort()
      })
    },
  )
}
