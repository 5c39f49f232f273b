import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { type Serializer, type SerializerFactory, SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from '@openvesper/config'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController, type RouteOptions } from 'fastify'
import { pino } from 'pino'
import { registerAuth } from './http/auth.js'
import { registerComponents } from './http/components.js'
import { pickServices } from './http/feature.js'
import { capConnectionsPerAddress, registerSseStreamCap } from './http/open-limits.js'
import { registerJsonParser } from './http/json-body.js'
import { createRpcDispatcher } from './http/rpc.js'
import { WS_MAX_PAYLOAD, wsTransport } from './http/ws.js'
import { frameworkErrorHandler, ProblemSchema, registerErrorHandling } from './http/errors.js'
import { REDACT_PATHS } from './http/logger.js'
import { registerOriginCheck } from './http/origin.js'
import { createClientLimiter, registerRateLimit } from './http/rate-limit.js'
import { DOCS_PREFIX, registerSwagger } from './http/swagger.js'
import { createValidatorFactory } from './http/validation.js'
import { FEATURES, featureComponents, featureRpc, featureRpcDescription, featureTags } from './routes/index.js'
import type { Services } from './services.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Socket idle timeout while this route's handler runs, for handlers that may send nothing for longer than
     * SERVER_TIMEOUTS.connectionTimeoutMs (synchronous runs, POST /agent/run/:runId/wait): without it Node
     * destroys the silent socket after 30 s. Applied after auth and body parsing; Node resets it on the next request.
     */
    socketIdleTimeoutMs?: number
  }
}

export interface AppDeps {
  config: Config
  services: Services
  /** A pino logger (tests inject one writing to a buffer); the app adds its redaction and URL serializer. */
  log?: FastifyBaseLogger
  /** Observes every route once the app's own hooks have completed it (route inventory tests). */
  onRoute?: (route: RouteOptions) => void
  /** Shorter server timeouts (tests of the timeouts themselves); SERVER_TIMEOUTS otherwise. */
  timeouts?: Partial<ServerTimeouts>
}

export type ServerTimeouts = { -readonly [K in keyof typeof SERVER_TIMEOUTS]: number }

/** HTTP server timeouts (A19): all non-zero and at most 30 s. Tests read them from here. */
export const SERVER_TIMEOUTS: Readonly<{
  connectionTimeoutMs: number
  requestTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  connectionsCheckingIntervalMs: number
}> = {
  /** Socket inactivity before the connection is closed. SSE keep-alives must be more frequent than this. */
  connectionTimeoutMs: 30_000,
  /** Receiving the whole request (headers and body). */
  requestTimeoutMs: 30_000,
  /** Receiving the request headers. */
  headersTimeoutMs: 15_000,
  /** Idle keep-alive connection between requests. */
  keepAliveTimeoutMs: 5_000,
  /**
   * How often Node checks the request and headers timeouts (its default is 30 s, which would let a slow sender
   * hold a socket up to twice the timeout): a timeout holds to within this.
   */
  connectionsCheckingIntervalMs: 1_000,
}

/** Logged redaction on top of the process logger's: credentials in headers, bodies and config. */
export const APP_REDACT_PATHS = [
  ...REDACT_PATHS,
  'req.headers["proxy-authorization"]',
  'req.headers["x-openvesper-token"]',
  'res.headers["set-cookie"]',
  'token',
  'apiKey',
  '*.accessToken',
  '*.refreshToken',
  '*.secret',
  '*.authorization',
  '*.cookie',
]

/** Query parameters whose values never reach a log line. */
const SECRET_QUERY_PARAMS = new Set(['token', 'access_token', 'api_key', 'apikey', 'key'])

function decodeQueryKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase()
  } catch {
    return raw.toLowerCase()
  }
}

/** `req.url` for logs: values of credential-like query parameters (matched after decoding) and any fragment are replaced. */
export function redactUrl(rawUrl: string): string {
  const hash = rawUrl.indexOf('#')
  const url = hash < 0 ? rawUrl : rawUrl.slice(0, hash)
  const suffix = hash < 0 ? '' : '#[redacted]'
  const q = url.indexOf('?')
  if (q < 0) return `${url}${suffix}`
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const key = eq < 0 ? pair : pair.slice(0, eq)
      return SECRET_QUERY_PARAMS.has(decodeQueryKey(key)) ? `${key}=[redacted]` : pair
    })
    .join('&')
  return `${url.slice(0, q)}?${query}${suffix}`
}

interface LoggedRequest {
  method?: string
  url?: string
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

const serializers = {
  req: (req: LoggedRequest) => ({
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  }),
}

/** The app logger: the given one (or a new pino logger) with redaction and the URL-redacting req serializer. */
export function createAppLogger(config: Config, log?: FastifyBaseLogger): FastifyBaseLogger {
  const redact = { paths: APP_REDACT_PATHS, censor: '[redacted]' }
  const base = log ?? pino({ level: config.server.logLevel, redact })
  return base.child({}, { serializers, redact })
}

/**
 * Fastify's response serializers (fast-json-stringify), each compiled on its route's first response with that
 * status instead of all at start-up, where they were the largest single cost (~175 ms CPU, ~8 MB). Schemas are
 * static and checked by the OpenAPI tests, so deferring their compilation defers no error a user could cause.
 */
const lazySerializers: SerializerFactory = (externalSchemas, serializerOpts) => {
  const build = SerializerSelector()(externalSchemas, serializerOpts)
  return (route) => {
    let serialize: Serializer | undefined
    return (data) => (serialize ??= build(route))(data)
  }
}

/** Client-supplied request ids are kept only when short and free of anything that could forge a log line. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * The Fastify instance, plugins in explicit order. Never listens (main.ts does) and never constructs services.
 * Order matters: components before anything compiles a `$ref`; error and auth hooks before any plugin that
 * registers routes (root hooks added later do not reach plugins already registered); swagger before routes.
 */
export async function buildApp({ config, services, log, onRoute, timeouts: overrides }: AppDeps): Promise<FastifyInstance> {
  const timeouts: ServerTimeouts = { ...SERVER_TIMEOUTS, ...overrides }
  const app = Fastify({
    loggerInstance: createAppLogger(config, log),
    // One line per request (onResponse below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimit,
    genReqId: requestId,
    requestIdHeader: false,
    // Forwarded headers count only from the configured proxies (request.ip, protocol and host); from anyone else they are ignored.
    trustProxy: config.server.trustProxy.length > 0 ? [...config.server.trustProxy] : false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    connectionTimeout: timeouts.connectionTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    http: {
      requestTimeout: timeouts.requestTimeoutMs,
      headersTimeout: timeouts.headersTimeoutMs,
      connectionsCheckingInterval: timeouts.connectionsCheckingIntervalMs,
    },
    frameworkErrors: frameworkErrorHandler,
    // A session key in a path: 256 characters percent-encoded are up to 3072 bytes (4 UTF-8 bytes each, 3 per byte), more in NFD.
    routerOptions: { maxParamLength: 8192 },
    return503OnClosing: true,
    // Bodies strict, query strings, params and headers coerced from their strings (http/validation.ts).
    schemaController: { compilersFactory: { buildValidator: createValidatorFactory(), buildSerializer: lazySerializers } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  registerComponents(app, [ProblemSchema, ...featureComponents(FEATURES)])
  // JSON only: a text/plain body is a 415, not a string that reaches validation (and no CORS-simple bodies).
  app.removeContentTypeParser('text/plain')
  // Bounded parsing cost: nesting deeper than MAX_JSON_DEPTH is a 400 before JSON.parse sees it.
  registerJsonParser(app)

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  // First of the limits: a client holding too many connections is refused before it costs a lookup.
  capConnectionsPerAddress(app, app.server, config.limits.open.connectionsPerAddress)
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: redactUrl(request.url), statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ip: request.ip },
      'request completed',
    )
  })
  // Only once the request is authenticated, validated and fully received: clients cannot stretch their own upload.
  app.addHook('preHandler', async (request) => {
    const idle = request.routeOptions.config.socketIdleTimeoutMs
    const socket = request.raw.socket as { setTimeout?: (ms: number) => void } | undefined
    // Injected requests (tests) have no real socket.
    if (typeof idle === 'number' && idle > 0 && typeof socket?.setTimeout === 'function') socket.setTimeout(idle)
  })
  // Before auth: its onRequest hook marks upgrade requests so a refused upgrade's socket is destroyed.
  await app.register(websocket, {
    options: { maxPayload: WS_MAX_PAYLOAD },
    // On shutdown, clients are told the server is going away (1001) rather than seeing an abrupt close.
    preClose(this: FastifyInstance, done: () => void) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down')
      this.websocketServer.close(() => done())
    },
  })
  registerErrorHandling(app)
  // Rate limit, then origin, then auth: floods and cross-site streams are refused before any credential is looked up.
  const limiter = createClientLimiter(services.limits, app.log)
  registerRateLimit(app, limiter)
  registerOriginCheck(app, { allowedOrigins: config.server.allowedOrigins })
  registerAuth(app, { tokens: services.tokens, docsPrefix: DOCS_PREFIX, docsPublic: config.server.docsPublic, throttle: limiter })
  registerSseStreamCap(app, config.limits.open.sseStreamsPerToken)
  // After the hooks that complete routes (policy, security, Problem responses), before any route exists.
  if (onRoute) app.addHook('onRoute', (route) => onRoute(route))
  await registerSwagger(app, featureTags(FEATURES))

  for (const feature of FEATURES) await app.register(feature.plugin, { services: pickServices(services, feature.needs), config })
  await app.register(wsTransport, {
    tokens: services.tokens,
    streams: config.limits.streams,
    maxSubscriptions: config.limits.open.wsSubscriptionsPerSocket,
    rpc: createRpcDispatcher(featureRpc(FEATURES, services)),
    methodsDescription: featureRpcDescription(FEATURES),
  })
  return app
}
