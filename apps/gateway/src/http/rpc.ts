import { type AppError, isAppError } from '@openvesper/shared'
import type { FastifyBaseLogger } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { hasScopes, type Principal, type Scope } from '@openvesper/access'
import type { Services } from '../services.js'
import { isDependencyOutage } from './errors.js'
import { jsonShapeProblem } from './json-body.js'

/** JSON-RPC 2.0 error codes; application errors carry their problem code in `data.code`. */
export const RPC = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, app: -32000, rateLimited: -32029 } as const
const APP_RPC_CODES: Partial<Record<AppError['code'], number>> = {
  unauthorized: -32001,
  forbidden: -32003,
  not_found: -32004,
  conflict: -32009,
  rate_limited: RPC.rateLimited,
}

/** Sends one notification (`method` = event type) to the client, waiting while the socket is backed up. */
export type Notify = (method: string, params: Record<string, unknown>) => Promise<void>

/** What a method may do with the connection it was called on. */
export interface RpcConnection {
  principal: Principal
  requestId: string
  log: FastifyBaseLogger
  /** True while the socket is open. */
  isOpen(): boolean
  /**
   * Holds one of the socket's subscription slots for a `follow` to come; throws `rate_limited` (JSON-RPC -32029) when
   * none is left. Pass the returned release function to `follow`, or call it when the follow will not happen.
   */
  reserveFollow(): () => void
  /** Streams notifications from `source` under `key` until `unfollow(key)`, the source ends or the socket closes; a key already followed is left as it is. */
  follow(key: string, source: (notify: Notify, signal: AbortSignal) => Promise<unknown>, reservation?: () => void): void
  unfollow(key: string): void
  /** The keys (run ids) this connection follows now. */
  followed(): string[]
}

export interface RpcMethod<S extends keyof Services = keyof Services, P extends TSchema = TSchema> {
  /** Validated before the call; a failure is invalid-params naming the path. */
  params: P
  /** Checked before validation: a token without it gets a forbidden error. */
  scope: Scope
  call(params: Static<P>, conn: RpcConnection, services: Pick<Services, S>): Promise<unknown>
}
// biome-ignore lint/suspicious/noExplicitAny: an existential type (each method has its own params schema)
type AnyParams = any
/** A method of any params and service set: the type of a mixed table. */
export type AnyRpcMethod = RpcMethod<AnyParams, AnyParams>
export type RpcMethods<S extends keyof Services = keyof Services> = Record<string, RpcMethod<S, AnyParams>>

/** Identity with inference of the params' static type. */
export function rpcMethod<S extends keyof Services, P extends TSchema>(method: RpcMethod<S, P>): RpcMethod<S, P> {
  return method
}

/** A method bound to its compiled validator and the services of the feature that declared it. */
interface Bound {
  check: ReturnType<typeof Compile>
  scope: Scope
  call(params: unknown, conn: RpcConnection): Promise<unknown>
}

/** Typed (non-JSON-RPC) messages the socket accepts, each served by the method of the same name. */
const TYPED_MESSAGES = new Set(['tool_approval'])

export interface RpcMessage {
  type?: string
  jsonrpc?: '2.0'
  id?: unknown
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

export const rpcError = (id: unknown, code: number, message: string, data?: unknown): RpcMessage => ({
  jsonrpc: '2.0',
  id: id ?? null,
  error: { code, message, ...(data === undefined ? {} : { data }) },
})

/**
 * The JSON-RPC 2.0 dispatcher of `/ws`: parses a text message, finds the method, checks the scope and the params
 * and maps application errors to their codes. Answers `undefined` for notifications (no id) that succeeded.
 */
export function createRpcDispatcher(methods: Record<string, { method: AnyRpcMethod; services: Partial<Services> }>) {
  const table = new Map<string, Bound>()
  for (const [name, { method, services }] of Object.entries(methods)) {
    table.set(name, { check: Compile(method.params), scope: method.scope, call: (params, conn) => method.call(params, conn, services) })
  }

  const dispatcher = {
    async dispatch(text: string, conn: RpcConnection): Promise<RpcMessage | undefined> {
      let msg: { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown; type?: unknown }
      // Bounded parsing cost, as for HTTP bodies (json-body.ts).
      const tooComplex = jsonShapeProblem(text)
      if (tooComplex) return rpcError(null, RPC.invalidRequest, tooComplex)
      try {
        msg = JSON.parse(text)
      } catch {
        return rpcError(null, RPC.parse, 'parse error')
      }
      // Seed 002's typed messages (`{ "type": "tool_approval", … }`): the method named by `type`, answered with `{ type: "<type>.result", … }`.
      if (msg && typeof msg === 'object' && msg.jsonrpc === undefined && typeof msg.type === 'string' && TYPED_MESSAGES.has(msg.type)) {
        const { type, ...params } = msg as Record<string, unknown> & { type: string }
        const reply = await dispatcher.dispatch(JSON.stringify({ jsonrpc: '2.0', id: type, method: type, params }), conn)
        return reply?.error ? { ...reply, id: null } : ({ type: `${type}.result`, ...(reply?.result as object) } as RpcMessage)
      }
      if (!msg || typeof msg !== 'object' || msg.jsonrpc !== '2.0' || typeof msg.method !== 'string')
        return rpcError(msg?.id, RPC.invalidRequest, 'invalid JSON-RPC 2.0 request')
      const def = table.get(msg.method)
      if (!def) return rpcError(msg.id, RPC.methodNotFound, `method not found: ${msg.method}`)
      if (!hasScopes(conn.principal.scopes, [def.scope]))
        return rpcError(msg.id, APP_RPC_CODES.forbidden!, 'the token lacks the scope this method needs', { code: 'forbidden', scope: def.scope })
      const params = msg.params ?? {}
      if (!def.check.Check(params)) {
        const first = def.check.Errors(params)[0]
        return rpcError(msg.id, RPC.invalidParams, 'invalid params', { path: first?.instancePath ?? '', message: first?.message ?? 'invalid' })
      }
      try {
        const result = await def.call(params, conn)
        return msg.id === undefined ? undefined : { jsonrpc: '2.0', id: msg.id, result }
      } catch (err) {
        if (isAppError(err)) return rpcError(msg.id, APP_RPC_CODES[err.code] ?? RPC.app, err.message, { code: err.code })
        if (isDependencyOutage(err)) {
          conn.log.warn({ err }, 'ws call failed: a backing service is unavailable')
          return rpcError(msg.id, RPC.app, 'a backing service is temporarily unavailable; retry shortly', { code: 'unavailable' })
        }
        conn.log.error({ err }, 'ws call failed')
        return rpcError(msg.id, RPC.app, 'internal error', { code: 'internal', requestId: conn.requestId })
      }
    },
  }
  return dispatcher
}
export type RpcDispatcher = ReturnType<typeof createRpcDispatcher>
