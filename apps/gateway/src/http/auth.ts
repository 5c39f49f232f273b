import { AppError, forbidden, isAppError, unauthorized, unavailable } from '@openvesper/shared'
import type { FastifyInstance, FastifyRequest, HTTPMethods, RouteOptions } from 'fastify'
import { hasScopes, isScope, MAX_TOKEN_LENGTH, type Principal, type Scope, type TokensService } from '@openvesper/access'
import type { AuthThrottle } from './rate-limit.js'

/**
 * Every route declares one: `{ public: true }`, or the scopes its caller needs (all of them; `admin` implies
 * every scope; an empty list means "any valid token"). `streaming: true` (SSE and WebSocket routes only)
 * additionally accepts the token as `?token=` because browsers' EventSource and WebSocket cannot set headers.
 * `apiKeyHeader: true` (the Anthropic-compatible surface) additionally accepts it as `x-api-key: <token>`, the
 * header Anthropic clients send: the same tokens and scopes, one credential per request.
 */
export type AuthPolicy = { public: true } | { scopes: Scope[]; streaming?: boolean; apiKeyHeader?: boolean }

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthPolicy
  }
  interface FastifyRequest {
    /** The authenticated caller; set by the auth hook on every non-public route. */
    principal: Principal
  }
}

export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }]
/** The `x-api-key` alternative of `apiKeyHeader` routes (scheme `apiKeyAuth` in swagger.ts). */
const API_KEY_SECURITY = [{ apiKeyAuth: [] as string[] }]
const BEARER = /^Bearer ([\x21-\x7e]+)$/
const API_KEY = /^[\x21-\x7e]+$/
/** Paths whose unknown routes take `x-api-key` like their known ones (the Anthropic surface's 404s). */
const API_KEY_PREFIXES = ['/anthropic/']

export interface AuthOptions {
  tokens: TokensService
  /** Swagger UI's routes (registered by @fastify/swagger-ui, without `config.auth`) live under this prefix. */
  docsPrefix: string
  /** Swagger UI without a token (OPENVESPER_DOCS_PUBLIC); otherwise any valid token may read it. */
  docsPublic: boolean
  /** Failed-authentication throttle (A08): checked before any credential is read; every 401 counts against the client. */
  throttle: AuthThrottle
}

function describeRoute(route: RouteOptions): string {
  return `${Array.isArray(route.method) ? route.method.join(',') : route.method} ${route.url}`
}

function checkPolicy(route: RouteOptions, policy: unknown): AuthPolicy {
  const p = policy as { public?: unknown; scopes?: unknown; streaming?: unknown; apiKeyHeader?: unknown }
  if (p.public === true && p.scopes === undefined && p.streaming === undefined && p.apiKeyHeader === undefined) return { public: true }
  if (
    p.public === undefined &&
    Array.isArray(p.scopes) &&
    p.scopes.every((s) => typeof s === 'string' && isScope(s)) &&
    (p.streaming === undefined || typeof p.streaming === 'boolean') &&
    (p.apiKeyHeader === undefined || typeof p.apiKeyHeader === 'boolean')
  )
    return policy as AuthPolicy
  throw new Error(`route ${describeRoute(route)}: config.auth must be { public: true } or { scopes: Scope[]; streaming?: boolean; apiKeyHeader?: boolean }`)
}

/**
 * Exactly one `Authorization: Bearer <token>` header, or one `?token=` on streaming routes, or (with `apiKey`) one
 * `x-api-key: <token>` header; anything else (none, two, both kinds) is an error.
 */
function readCredential(request: FastifyRequest, streaming: boolean, apiKey = false): string {
  const raw = request.raw.rawHeaders
  let headerCount = 0
  let apiKeyCount = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]?.toLowerCase()
    if (name === 'authorization') headerCount++
    else if (apiKey && name === 'x-api-key') apiKeyCount++
  }
  if (apiKeyCount > 0) {
    if (apiKeyCount > 1 || headerCount > 0) throw unauthorized('send exactly one credential: Authorization: Bearer <token> or x-api-key: <token>')
    const token = request.headers['x-api-key']
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !API_KEY.test(token)) throw unauthorized('expected x-api-key: <token>')
    return token
  }
  const query = request.query as Record<string, unknown> | undefined
  const hasQueryToken = query !== undefined && query !== null && typeof query === 'object' && Object.hasOwn(query, 'token')

  if (hasQueryToken && !streaming) throw unauthorized('query-string credentials are accepted only on streaming routes; use the Authorization header')
  if (headerCount > 1) throw unauthorized('send exactly one Authorization header')
  if (headerCount === 1 && hasQueryToken) throw unauthorized('send the token either in the Authorization header or as ?token=, not both')

  if (headerCount === 1) {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? BEARER.exec(header) : null
    const token = match?.[1]
    if (token === undefined || token.length > MAX_TOKEN_LENGTH) throw unauthorized('expected Authorization: Bearer <token>')
    return token
  }
  if (hasQueryToken) {
    const token = query.token
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token))
      throw unauthorized('malformed token query parameter')
    return token
  }
  throw unauthorized()
}

/**
 * Authentication and authorization of the native API.
 *
 * - `onRoute` (boot): every route must declare `config.auth` (Swagger UI's routes get the docs policy), the
 *   policy is checked and written to `schema.security`, so enforcement and documentation share one declaration.
 *   Fastify's automatic HEAD routes copy the GET route's config and pass through the same hook.
 * - `onRequest`: authenticates before parsing or validation; unknown paths need a valid token to learn
 *   they are unknown (401 otherwise, 404 with a token). A path the API serves, requested with a method it does
 *   not serve, is a 404 before any credential is read: it reveals nothing the API reference does not and never
 *   consumes the client's failed-authentication budget. A client over that budget gets 429 before its
 *   credential is looked at, whether or not it is valid.
 *
 * Must be registered before any route and before any plugin that registers routes (hooks added to the root
 * later do not reach plugins already registered).
 */
export function registerAuth(app: FastifyInstance, { tokens, docsPrefix, docsPublic, throttle }: AuthOptions): void {
  app.decorateRequest('principal', null as unknown as Principal)
  const methods = new Set<string>()
  const servesOtherMethod = (request: FastifyRequest): boolean =>
    [...methods].some((method) => method !== request.method && app.findRoute({ method: method as HTTPMethods, url: request.url }) !== null)

  const docsPolicy: AuthPolicy = docsPublic ? { public: true } : { scopes: [] }
  const isDocsRoute = (route: RouteOptions): boolean =>
    (route.url === docsPrefix || route.url.startsWith(`${docsPrefix}/`)) && (route.schema as { hide?: unknown } | undefined)?.hide === true

  app.addHook('onRoute', (route: RouteOptions) => {
    let policy = route.config?.auth
    if (policy === undefined && isDocsRoute(route)) {
      policy = docsPolicy
      route.config = { ...route.config, auth: policy }
    }
    if (policy === undefined)
      throw new Error(`route ${describeRoute(route)} declares no config.auth: add { auth: { scopes: [...] } } or { auth: { public: true } }`)
    const checked = checkPolicy(route, policy)
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) methods.add(method)
    const security = 'public' in checked ? [] : checked.apiKeyHeader ? [...BEARER_SECURITY, ...API_KEY_SECURITY] : BEARER_SECURITY
    route.schema = { ...(route.schema ?? {}), security }
  })

  /** The caller's principal, or an `unauthorized` error for a missing, malformed, unknown or revoked token. */
  async function authenticate(request: FastifyRequest, streaming: boolean, apiKey: boolean): Promise<Principal> {
    const token = readCredential(request, streaming, apiKey)
    let principal: Principal | undefined
    try {
      principal = await tokens.verify(token)
    } catch (err) {
      request.log.error({ err }, 'token verification failed')
      throw unavailable('authentication is temporarily unavailable; retry shortly')
    }
    if (!principal) throw unauthorized('invalid or revoked token')
    return principal
  }

  app.addHook('onRequest', async (request, reply) => {
    if (request.is404 && servesOtherMethod(request)) throw new AppError('not_found', 'no route matches this method and path')
    // Unknown paths (404 handler) have no policy: they require a valid token like any protected route.
    const declared = request.is404
      ? ({ scopes: [], apiKeyHeader: API_KEY_PREFIXES.some((prefix) => request.url.startsWith(prefix)) } satisfies AuthPolicy)
      : request.routeOptions.config.auth
    if (declared === undefined) throw unauthorized() // fail closed; onRoute makes this unreachable
    if ('public' in declared) return
    const streaming = declared.streaming === true
    if (streaming) reply.header('referrer-policy', 'no-referrer')

    await throttle.check(request)
    let principal: Principal
    try {
      principal = await authenticate(request, streaming, declared.apiKeyHeader === true)
    } catch (err) {
      if (isAppError(err) && err.code === 'unauthorized') await throttle.failed(request)
      throw err
    }
    if (!hasScopes(principal.scopes, declared.scopes))
      throw forbidden(`this operation needs the scope${declared.scopes.length > 1 ? 's' : ''} ${declared.scopes.join(', ')}`)
    request.principal = principal
  })
}
