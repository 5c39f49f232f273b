import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { CreatedRun, RunEvent } from '@openvesper/core'
import type { RunRow } from '@openvesper/db'
import { AppError, isAppError } from '@openvesper/shared'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import type { WebSocket } from 'ws'
import { CreateRunBodySchema, describeRun } from '../../schemas/run.js'
import { watchCredential } from '../../http/credential-watch.js'
import { hasScopes, type Scope } from '../../http/scopes.js'
import { createStreamGuard, type StreamLimits } from '../../http/stream-guard.js'
import type { Services } from '../../services.js'

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


const RunIdParams = Type.Object({ runId: Type.String({ pattern: '^run_[0-9a-z]{8,64}$' }) }, { additionalProperties: false })
const SubscribeParams = Type.Object(
  { runId: Type.String({ pattern: '^run_[0-9a-z]{8,64}$' }), afterSeq: Type.Optional(Type.Integer({ minimum: 0 })) },
  { additionalProperties: false },
)
const AgentRunParams = Type.Object(
  { ...CreateRunBodySchema.properties, idempotencyKey: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,255}$' })) },
  { additionalProperties: false },
)

/** JSON-RPC methods: params validator and the scope each needs. */
const METHODS = {
  'agent.run': { params: Compile(AgentRunParams), scope: 'runs:write' },
  'run.subscribe': { params: Compile(SubscribeParams), scope: 'runs:read' },
  'run.unsubscribe': { params: Compile(RunIdParams), scope: 'runs:read' },
  'run.get': { params: Compile(RunIdParams), scope: 'runs:read' },
  'run.abort': { params: Compile(RunIdParams), scope: 'runs:write' },
} as const satisfies Record<string, { params: unknown; scope: Scope }>
type Method = keyof typeof METHODS

/** JSON-RPC 2.0 error codes; application errors carry their problem code in `data.code`. */
const RPC = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, app: -32000, rateLimited: -32029 } as const
const APP_RPC_CODES: Partial<Record<AppError['code'], number>> = { unauthorized: -32001, forbidden: -32003, not_found: -32004, conflict: -32009 }

export const wsRoutes: FastifyPluginAsyncTypebox<{ services: Services; streams: StreamLimits }> = async (app, { services, streams }) => {
  const { runs } = services
  const budget = createMessageBudget(WS_MESSAGES_PER_SECOND, WS_MESSAGE_BURST)

  app.get(
    '/ws',
    {
      websocket: true,
      schema: {
        operationId: 'connectWebSocket',
        summary: 'WebSocket: JSON-RPC 2.0 calls and run event notifications',
        description:
          'Upgrade to a WebSocket (token in the Authorization header or ?token=). Methods: agent.run {message, agent?, sessionKey?, idempotencyKey?} → {runId, status} and its events are pushed; run.subscribe {runId, afterSeq?}; run.unsubscribe {runId}; run.get {runId}; run.abort {runId}. Events arrive as notifications whose method is the event type (agent.text_delta, agent.tool_request, agent.tool_result, agent.turn_complete, agent.error, run.*) with params {runId, seq, …}. A client that reads none of what waits for it for OPENVESPER_STREAM_STALL_MS (20 s) is closed with 1013; it resumes with run.subscribe {runId, afterSeq}.',
        tags: ['Runs'],
        querystring: Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: false }),
        response: { 101: { description: 'Switching Protocols' } },
      },
      config: { auth: { scopes: ['runs:read'], streaming: true } },
      // Before the 101: a token already holding its maximum of sockets is refused.
      preHandler: async (request) => {
        if (budget.sockets(request.principal.tokenId) >= WS_MAX_CONNECTIONS_PER_TOKEN)
          throw new AppError('rate_limited', `at most ${WS_MAX_CONNECTIONS_PER_TOKEN} WebSocket connections per token`)
      },
    },
    (socket: WebSocket, request) => {
      const principal = request.principal
      const tokenId = request.principal.tokenId
      budget.open(tokenId)
      let refused = 0
      const subscriptions = new Map<string, AbortController>()
      // Revoking the token closes the socket with 1008 (policy violation) within CREDENTIAL_RECHECK_MS.
      const unwatch = watchCredential(services.tokens, request.principal.tokenId, () => socket.close(1008, 'credential revoked'))
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
      // Backpressure: past WS_HIGH_WATER_BYTES unsent, subscriptions wait until the last event sent left the process.
      let lastSent: Promise<void> = Promise.resolve()
      const notify = async (e: RunEvent): Promise<void> => {
        if (socket.bufferedAmount >= WS_HIGH_WATER_BYTES) await lastSent
        const payload = { jsonrpc: '2.0', method: e.type, params: { runId: e.runId, seq: e.seq, ...e.data, createdAt: e.createdAt } }
        lastSent = new Promise<void>((resolve) => send(payload, resolve))
      }
      const fail = (id: unknown, code: number, message: string, data?: unknown) =>
        send({ jsonrpc: '2.0', id: id ?? null, error: { code, message, ...(data === undefined ? {} : { data }) } })

      /** Follows a run from `afterSeq`; a run `created` and claimed here streams from its live events (runs.followNew). */
      const subscribe = (runRow: RunRow, afterSeq: number, created?: CreatedRun) => {
        if (subscriptions.has(runRow.id)) return
        const ctrl = new AbortController()
        subscriptions.set(runRow.id, ctrl)
        const following = created?.attempt ? runs.followNew(created, notify, ctrl.signal) : runs.follow(runRow, afterSeq, notify, ctrl.signal)
        void following
          .catch((err) => request.log.warn({ err, runId: runRow.id }, 'ws subscription failed'))
          .finally(() => subscriptions.delete(runRow.id))
      }

      const call = async (method: Method, params: Record<string, unknown>): Promise<unknown> => {
        switch (method) {
          case 'agent.run': {
            const { idempotencyKey, ...input } = params as { message: string; agent?: string; sessionKey?: string; idempotencyKey?: string }
            const created = await runs.create(principal, input, { mode: 'stream', idempotencyKey, requestId: String(request.id) })
            const { run } = created
            // After the reply, which is sent when this call resolves (setImmediate runs after that microtask).
            setImmediate(() => {
              if (socket.readyState === socket.OPEN) subscribe(run, 0, created)
              // The client left already: the run still runs, as over SSE.
              else if (created.created) void runs.executeInline(created).catch((err) => request.log.error({ err, runId: run.id }, 'inline run crashed'))
            })
            return { runId: run.id, status: run.status }
          }
          case 'run.subscribe': {
            const run = await runs.getOwned(principal, String(params.runId))
            subscribe(run, Number(params.afterSeq ?? 0))
            return { runId: run.id, subscribed: true }
          }
          case 'run.unsubscribe': {
            subscriptions.get(String(params.runId))?.abort()
            return { runId: params.runId, subscribed: false }
          }
          case 'run.get': {
            const run = await runs.getOwned(principal, String(params.runId))
            return describeRun(runs, run)
          }
          case 'run.abort': {
            const run = await runs.abort(principal, String(params.runId))
            return describeRun(runs, run)
          }
        }
      }

      socket.on('message', (data, isBinary) => {
        if (!budget.take(tokenId)) {
          if (++refused >= WS_MAX_REFUSED_MESSAGES) return socket.close(1008, 'message rate limit exceeded')
          return fail(null, RPC.rateLimited, 'rate limited: too many messages', { code: 'rate_limited' })
        }
        if (isBinary) return fail(null, RPC.invalidRequest, 'binary messages are not accepted')
        let msg: { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown }
        try {
          msg = JSON.parse(data.toString('utf8'))
        } catch {
          return fail(null, RPC.parse, 'parse error')
        }
        if (!msg || typeof msg !== 'object' || msg.jsonrpc !== '2.0' || typeof msg.method !== 'string')
          return fail(msg?.id, RPC.invalidRequest, 'invalid JSON-RPC 2.0 request')
        const def = Object.hasOwn(METHODS, msg.method) ? METHODS[msg.method as Method] : undefined
        if (!def) return fail(msg.id, RPC.methodNotFound, `method not found: ${msg.method}`)
        if (!hasScopes(principal.scopes, [def.scope])) return fail(msg.id, APP_RPC_CODES.forbidden!, 'the token lacks the scope this method needs', { code: 'forbidden', scope: def.scope })
        const params = msg.params ?? {}
        if (!def.params.Check(params)) {
          const first = def.params.Errors(params)[0]
          return fail(msg.id, RPC.invalidParams, 'invalid params', { path: first?.instancePath ?? '', message: first?.message ?? 'invalid' })
        }
        call(msg.method as Method, params as Record<string, unknown>).then(
          (result) => msg.id !== undefined && send({ jsonrpc: '2.0', id: msg.id, result }),
          (err) => {
            if (isAppError(err)) return fail(msg.id, APP_RPC_CODES[err.code] ?? RPC.app, err.message, { code: err.code })
            request.log.error({ err }, 'ws call failed')
            fail(msg.id, RPC.app, 'internal error', { code: 'internal', requestId: request.id })
          },
        )
      })

      socket.on('close', () => {
        guard.close()
        budget.close(tokenId)
        unwatch()
        clearInterval(ping)
        for (const ctrl of subscriptions.values()) ctrl.abort()
      })
    },
  )
}
