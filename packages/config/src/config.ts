/**
 * Configuration: one table maps every environment variable to a typed, bounded, documented setting.
 * `loadConfig(env)` is pure; it reports every problem at once and never echoes a secret's value.
 */
import { isIP } from 'node:net'

export type Role = 'all' | 'api' | 'worker'
export const ROLES: readonly Role[] = ['all', 'api', 'worker']

/** A fixed-window limit: at most `limit` events per client in `windowMs`. */
export interface WindowLimit {
  limit: number
  windowMs: number
}

export interface Config {
  role: Role
  server: {
    host: string
    port: number
    bodyLimit: number
    docsPublic: boolean
    logLevel: string
    shutdownGraceMs: number
    /** Proxy addresses/CIDRs whose X-Forwarded-* headers are believed; empty: none. */
    trustProxy: string[]
    /** Normalised origins (`https://app.example`) that may open WebSocket and SSE streams from a browser. */
    allowedOrigins: string[]
  }
  limits: {
    requests: WindowLimit
    authFailures: WindowLimit
    /** A streaming client (SSE, WebSocket) that stops reading: dropped past this many unsent bytes, or once nothing was sent for `stallMs`. */
    streams: { maxBufferedBytes: number; stallMs: number }
    /** What one client may hold open at once in one gateway process (0 on connectionsPerAddress: no cap). */
    open: { sseStreamsPerToken: number; wsSubscriptionsPerSocket: number; connectionsPerAddress: number }
  }
  database: { url: string | undefined; dataDir: string; poolMax: number; migrateOnStart: boolean }
  redis: { url: string | undefined; prefix: string }
  auth: { bootstrapToken: string | undefined; cacheMs: number }
  runs: {
    leaseMs: number
    maxAttempts: number
    reconcileIntervalMs: number
    staleQueuedMs: number
    waitTimeoutMaxMs: number
    workerConcurrency: number
    maxSteps: number
  }
  upstream: {
    model: string | undefined
    openaiBaseUrl: string
    openaiApiKey: string | undefined
    anthropicBaseUrl: string
    anthropicApiKey: string | undefined
    maxRetries: number
    retryMaxDelayMs: number
    timeoutMs: number
    /** `alias=provider/model` entries: a compat request's `model` naming an alias is a pass-through to that model. */
    aliases: string[]
  }
  agents: { configPath: string }
  sessions: { queueMode: 'reject' | 'followup' | 'collect' | 'steer' | 'interrupt'; queueCap: number; collectDebounceMs: number }
  scheduler: { minIntervalMs: number; catchUpMs: number; sweepMs: number }
  approvals: { defaultAction: 'allow' | 'deny' | 'ask'; ttlMs: number; rulesPath: string | undefined }
  memory: {
    embeddingsUrl: string | undefined
    embeddingsApiKey: string | undefined
    embeddingsModel: string
    embeddingsDimension: number
    embeddingsBatch: number
    textSearchConfig: string
    dedupe: boolean
    purgeIntervalMs: number
  }
}

/** Every setting of Config as a dotted path (`'runs.leaseMs'`), derived from the interface: a typo does not compile. */
export type ConfigPath = Leaves<Config>
type Leaves<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends string | number | boolean | readonly unknown[] | undefined ? `${Prefix}${K}` : Leaves<T[K], `${Prefix}${K}.`>
}[keyof T & string]
/** The type of the setting at `path`. */
export type ConfigValue<P extends string, T = Config> = P extends `${infer K}.${infer Rest}`
  ? K extends keyof T
    ? ConfigValue<Rest, T[K]>
    : never
  : P extends keyof T
    ? T[P]
    : never

/** How a variable is parsed, by the type of its setting: a kind that does not fit the setting does not compile. */
type KindOf<V> = [V] extends [readonly string[]]
  ? {
      kind: 'list'
      default?: never // unset: an empty list
      /** Comma-separated items, each checked (and normalised) by this function. */
      item?: (raw: string) => { value?: string; problem?: string }
    }
  : [V] extends [number]
    ? { kind: 'int'; min: number; max: number; default?: V }
    : [V] extends [boolean]
      ? { kind: 'bool'; default?: V }
      : [V] extends [string]
        ? { kind: 'enum'; values: readonly V[]; default?: V } | (string extends V ? { kind: 'string' | 'url'; default?: V } : never)
        : never
/** A setting that cannot be undefined needs a default (lists default to empty). */
type DefaultOf<V> = undefined extends V ? unknown : [V] extends [readonly string[]] ? unknown : { default: V }

/** One environment variable: the setting it fills (`path`), how its text is parsed, its default and its documentation. */
export type ConfigEntry = {
  [P in ConfigPath]: { path: P; description: string; secret?: boolean } & KindOf<NonNullable<ConfigValue<P>>> & DefaultOf<ConfigValue<P>>
}[ConfigPath]

/** The variable table, checked to fill every setting of Config (the error names the paths no variable fills). */
function defineEnv<const T extends Record<string, ConfigEntry>>(
  table: T & ([Exclude<ConfigPath, T[keyof T]['path']>] extends [never] ? unknown : { unmappedConfigPaths: Exclude<ConfigPath, T[keyof T]['path']> }),
): Readonly<Record<string, ConfigEntry>> {
  return table
}

// biome-ignore format: one environment variable per line
export const ENV = defineEnv({
  OPENVESPER_ROLE: { path: 'role', kind: 'enum', values: ROLES, default: 'all', description: 'Process role: all (HTTP + workers), api (HTTP only) or worker (async runs only).' },
  OPENVESPER_HOST: { path: 'server.host', kind: 'string', default: '127.0.0.1', description: 'Address the HTTP server binds.' },
  OPENVESPER_PORT: { path: 'server.port', kind: 'int', default: 18789, min: 0, max: 65535, description: 'Port the HTTP server binds (0 picks a free port).' },
  OPENVESPER_BODY_LIMIT: { path: 'server.bodyLimit', kind: 'int', default: 1_048_576, min: 1024, max: 16_777_216, description: 'Largest accepted request body in bytes (413 above it).' },
  OPENVESPER_DOCS_PUBLIC: { path: 'server.docsPublic', kind: 'bool', default: false, description: 'Serve Swagger UI at /docs without a token (off: /docs needs a bearer token like every route).' },
  OPENVESPER_LOG_LEVEL: { path: 'server.logLevel', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'pino log level.' },
  OPENVESPER_TRUST_PROXY: { path: 'server.trustProxy', kind: 'list', item: proxyAddress, description: 'Comma-separated reverse-proxy addresses or CIDRs (or loopback, linklocal, uniquelocal) whose X-Forwarded-For/-Proto/-Host are believed; unset: forwarded headers are ignored and the socket address is the client. Behind a proxy, set it or every client shares the proxy\'s rate limit.' },
  OPENVESPER_ALLOWED_ORIGINS: { path: 'server.allowedOrigins', kind: 'list', item: webOrigin, description: 'Comma-separated exact origins (https://app.example:8443) besides the gateway\'s own that browsers may open WebSocket and SSE streams from; other Origin headers get 403.' },
  OPENVESPER_RATE_LIMIT: { path: 'limits.requests.limit', kind: 'int', default: 600, min: 1, max: 10_000_000, description: 'Requests one client (IP address) may send per OPENVESPER_RATE_LIMIT_WINDOW_MS (GET /health excepted); then 429 with Retry-After. Shared by all gateways on one Redis, which take each client\'s requests in leases of 1/32 of the limit (1 to 64): with several gateways a client can be refused up to a lease early, never late.' },
  OPENVESPER_RATE_LIMIT_WINDOW_MS: { path: 'limits.requests.windowMs', kind: 'int', default: 60_000, min: 1000, max: 86_400_000, description: 'Window of OPENVESPER_RATE_LIMIT.' },
  OPENVESPER_AUTH_FAIL_LIMIT: { path: 'limits.authFailures.limit', kind: 'int', default: 20, min: 1, max: 1_000_000, description: 'Failed authentications (401) one client may cause per OPENVESPER_AUTH_FAIL_WINDOW_MS; then every request needing a token is 429 with Retry-After until the window ends.' },
  OPENVESPER_AUTH_FAIL_WINDOW_MS: { path: 'limits.authFailures.windowMs', kind: 'int', default: 60_000, min: 1000, max: 86_400_000, description: 'Window of OPENVESPER_AUTH_FAIL_LIMIT.' },
  OPENVESPER_STREAM_MAX_BUFFERED_BYTES: { path: 'limits.streams.maxBufferedBytes', kind: 'int', default: 8_388_608, min: 65_536, max: 268_435_456, description: 'Unsent bytes one SSE or WebSocket client may leave waiting in the gateway before it is disconnected (WebSocket: close 1013). It can resume from the log: SSE with Last-Event-ID, WebSocket with run.subscribe {afterSeq}.' },
  OPENVESPER_STREAM_STALL_MS: { path: 'limits.streams.stallMs', kind: 'int', default: 20_000, min: 1000, max: 600_000, description: 'An SSE or WebSocket client with bytes waiting in the gateway that takes none of them for this long is disconnected, under the byte limit too (WebSocket: close 1013, the socket destroyed 5 s later if the client does not answer).' },
  OPENVESPER_SSE_STREAMS_PER_TOKEN: { path: 'limits.open.sseStreamsPerToken', kind: 'int', default: 32, min: 1, max: 100_000, description: 'Server-sent event streams one token may hold open at once in one gateway process; the next is 429 with Retry-After (nothing is created).' },
  OPENVESPER_WS_SUBSCRIPTIONS_PER_SOCKET: { path: 'limits.open.wsSubscriptionsPerSocket', kind: 'int', default: 64, min: 1, max: 100_000, description: 'Runs one WebSocket may follow at once (agent.run and run.subscribe); past it the call is a JSON-RPC error -32029 with data.code rate_limited (nothing is created).' },
  OPENVESPER_CONNECTIONS_PER_ADDRESS: { path: 'limits.open.connectionsPerAddress', kind: 'int', default: 256, min: 0, max: 1_000_000, description: 'Open TCP connections one peer address may hold; past it the new connection gets 429 with Retry-After and is closed. Counted per socket peer: behind a reverse proxy raise it (or 0: no cap).' },
  OPENVESPER_SHUTDOWN_GRACE_MS: { path: 'server.shutdownGraceMs', kind: 'int', default: 10_000, min: 0, max: 600_000, description: 'How long SIGTERM waits for in-flight requests and runs before exiting.' },
  DATABASE_URL: { path: 'database.url', kind: 'url', secret: true, description: 'PostgreSQL URL. Unset: embedded PGlite in OPENVESPER_DATA_DIR.' },
  OPENVESPER_DATA_DIR: { path: 'database.dataDir', kind: 'string', default: './.openvesper', description: 'Embedded mode data folder (PGlite); `memory://` keeps it in memory.' },
  OPENVESPER_DB_POOL_MAX: { path: 'database.poolMax', kind: 'int', default: 10, min: 1, max: 200, description: 'Postgres connection pool size per process.' },
  OPENVESPER_DB_MIGRATE: { path: 'database.migrateOnStart', kind: 'bool', default: true, description: 'Apply migrations at start (under an advisory lock).' },
  REDIS_URL: { path: 'redis.url', kind: 'url', secret: true, description: 'Redis URL. Unset: in-process queue and event bus (single process).' },
  OPENVESPER_REDIS_PREFIX: { path: 'redis.prefix', kind: 'string', default: 'ov', description: 'Prefix of every Redis key and BullMQ queue.' },
  OPENVESPER_AUTH_CACHE_MS: { path: 'auth.cacheMs', kind: 'int', default: 10_000, min: 0, max: 300_000, description: 'How long a verified token is remembered in memory (0: look it up on every request). Revocations through the API apply at once on every gateway (broadcast on the event bus); this bounds only a revocation made directly in the database or lost during a Redis outage.' },
  OPENVESPER_TOKEN: { path: 'auth.bootstrapToken', kind: 'string', secret: true, description: 'Bootstrap admin bearer token. Unset in embedded mode: one is generated and printed once.' },
  OPENVESPER_RUN_LEASE_MS: { path: 'runs.leaseMs', kind: 'int', default: 30_000, min: 1000, max: 3_600_000, description: 'Lease a worker holds on a running run; renewed at a third of it.' },
  OPENVESPER_RUN_MAX_ATTEMPTS: { path: 'runs.maxAttempts', kind: 'int', default: 2, min: 1, max: 10, description: 'Executions a run may get when its worker is lost; then it fails with worker_lost.' },
  OPENVESPER_RECONCILE_INTERVAL_MS: { path: 'runs.reconcileIntervalMs', kind: 'int', default: 5000, min: 100, max: 600_000, description: 'How often expired leases and stranded queued runs are recovered.' },
  OPENVESPER_STALE_QUEUED_MS: { path: 'runs.staleQueuedMs', kind: 'int', default: 30_000, min: 100, max: 3_600_000, description: 'A queued run older than this is enqueued again by the reconciler.' },
  OPENVESPER_WAIT_TIMEOUT_MAX_MS: { path: 'runs.waitTimeoutMaxMs', kind: 'int', default: 300_000, min: 1000, max: 3_600_000, description: 'Upper bound of timeoutMs on POST /agent/run/:runId/wait.' },
  OPENVESPER_WORKER_CONCURRENCY: { path: 'runs.workerConcurrency', kind: 'int', default: 16, min: 1, max: 1000, description: 'Async runs one worker process executes at once.' },
  OPENVESPER_SESSION_QUEUE_MODE: {
    path: 'sessions.queueMode',
    kind: 'enum',
    values: ['reject', 'followup', 'collect', 'steer', 'interrupt'],
    default: 'followup',
    description: 'What a message to a busy session does unless the request, the session or its agent says otherwise.',
  },
  OPENVESPER_SESSION_QUEUE_CAP: { path: 'sessions.queueCap', kind: 'int', default: 20, min: 1, max: 10_000, description: 'Runs that may wait in one busy session; past it, 429.' },
  OPENVESPER_SESSION_COLLECT_DEBOUNCE_MS: { path: 'sessions.collectDebounceMs', kind: 'int', default: 500, min: 0, max: 60_000, description: 'Queue mode collect: how long a merged turn waits after its last message.' },
  OPENVESPER_MAX_STEPS: { path: 'runs.maxSteps', kind: 'int', default: 8, min: 1, max: 100, description: 'Default model calls per run (tool loop bound); agents may set less.' },
  OPENVESPER_MODEL: { path: 'upstream.model', kind: 'string', description: 'Default model as provider/model (openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, echo).' },
  OPENAI_BASE_URL: { path: 'upstream.openaiBaseUrl', kind: 'url', default: 'https://api.openai.com/v1', description: 'OpenAI-compatible API base URL.' },
  OPENAI_API_KEY: { path: 'upstream.openaiApiKey', kind: 'string', secret: true, description: 'API key for the OpenAI-compatible provider.' },
  ANTHROPIC_BASE_URL: { path: 'upstream.anthropicBaseUrl', kind: 'url', default: 'https://api.anthropic.com', description: 'Anthropic API base URL.' },
  ANTHROPIC_API_KEY: { path: 'upstream.anthropicApiKey', kind: 'string', secret: true, description: 'API key for Anthropic.' },
  OPENVESPER_UPSTREAM_MAX_RETRIES: { path: 'upstream.maxRetries', kind: 'int', default: 3, min: 0, max: 10, description: 'Retries of a failed provider call (429, 5xx, network) before the run fails.' },
  OPENVESPER_UPSTREAM_RETRY_MAX_DELAY_MS: { path: 'upstream.retryMaxDelayMs', kind: 'int', default: 30_000, min: 0, max: 600_000, description: 'Cap on one retry delay, Retry-After included.' },
  OPENVESPER_UPSTREAM_TIMEOUT_MS: { path: 'upstream.timeoutMs', kind: 'int', default: 120_000, min: 100, max: 3_600_000, description: 'Timeout of one provider call (headers and between stream chunks).' },
  OPENVESPER_MODEL_ALIASES: { path: 'upstream.aliases', kind: 'list', item: modelAlias, description: 'Comma-separated alias=provider/model entries (fast=openai/gpt-4o-mini): on /v1 and /anthropic/v1 a model named by its alias is a pass-through to that provider model.' },
  OPENVESPER_SCHEDULER_MIN_INTERVAL_MS: { path: 'scheduler.minIntervalMs', kind: 'int', default: 1000, min: 1, max: 86_400_000, description: 'Smallest interval between two ticks of a task (fixed intervals and cron patterns); smaller ones are refused with 400.' },
  OPENVESPER_SCHEDULER_CATCH_UP_MS: { path: 'scheduler.catchUpMs', kind: 'int', default: 60_000, min: 0, max: 86_400_000, description: 'A task tick no instance fired on time (all were down) still fires once when found within this window; later, it is recorded as missed.' },
  OPENVESPER_SCHEDULER_SWEEP_MS: { path: 'scheduler.sweepMs', kind: 'int', default: 1000, min: 100, max: 600_000, description: 'How often one worker sweeps for due task ticks without a wake-up, queued firings and due commitments.' },
  OPENVESPER_APPROVAL_DEFAULT: { path: 'approvals.defaultAction', kind: 'enum', values: ['allow', 'deny', 'ask'], default: 'allow', description: 'What a tool call no approval rule matches gets: allow, deny (the model is told) or ask (the run waits for a decision).' },
  OPENVESPER_APPROVAL_TTL_MS: { path: 'approvals.ttlMs', kind: 'int', default: 86_400_000, min: 1000, max: 2_592_000_000, description: 'How long a pending approval waits; then its run fails with approval_expired.' },
  OPENVESPER_APPROVAL_RULES: { path: 'approvals.rulesPath', kind: 'string', description: 'JSON file of approval rules ([{ match: { tool, agent, sessionKey, args, risk }, action, reason }]) seeded into the database when it has none.' },
  OPENVESPER_CONFIG: { path: 'agents.configPath', kind: 'string', default: './openvesper.config.json', description: 'Agents file; a missing file means the single default agent `main`.' },
  OPENVESPER_EMBEDDINGS_URL: { path: 'memory.embeddingsUrl', kind: 'url', description: 'OpenAI-compatible embeddings API base URL (POST {url}/embeddings), e.g. https://api.openai.com/v1. Unset: memory search is full-text only.' },
  OPENVESPER_EMBEDDINGS_API_KEY: { path: 'memory.embeddingsApiKey', kind: 'string', secret: true, description: 'API key of the embeddings provider (unset: no Authorization header).' },
  OPENVESPER_EMBEDDINGS_MODEL: { path: 'memory.embeddingsModel', kind: 'string', default: 'text-embedding-3-small', description: 'Embedding model. After changing it (or the dimension), re-embed: see the README (memory).' },
  OPENVESPER_EMBEDDINGS_DIMENSION: { path: 'memory.embeddingsDimension', kind: 'int', default: 1536, min: 2, max: 2000, description: 'Embedding vector dimension (the HNSW index holds up to 2000).' },
  OPENVESPER_EMBEDDINGS_BATCH: { path: 'memory.embeddingsBatch', kind: 'int', default: 64, min: 1, max: 2048, description: 'Memory entries embedded per provider request.' },
  OPENVESPER_MEMORY_TS_CONFIG: { path: 'memory.textSearchConfig', kind: 'string', default: 'english', description: 'PostgreSQL text-search configuration of memory full-text search (english, simple, german, …).' },
  OPENVESPER_MEMORY_DEDUPE: { path: 'memory.dedupe', kind: 'bool', default: true, description: 'Merge a new memory entry into an existing one of the same agent with the same normalised text.' },
  OPENVESPER_MEMORY_PURGE_INTERVAL_MS: { path: 'memory.purgeIntervalMs', kind: 'int', default: 60_000, min: 100, max: 86_400_000, description: 'How often expired memory entries are purged (and pending embeddings retried).' },
})

const PROXY_KEYWORDS = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** An IPv4/IPv6 address, a CIDR range, or one of proxy-addr's names for reserved ranges. */
function proxyAddress(raw: string): { value?: string; problem?: string } {
  if (PROXY_KEYWORDS.has(raw)) return { value: raw }
  const [address = '', bits, ...rest] = raw.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return { problem: `'${raw}' is not an IP address or CIDR range` }
  if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) return { problem: `'${raw}' has an invalid prefix length` }
  return { value: raw }
}

/** `scheme://host[:port]` with scheme http or https, normalised (lowercase, default port dropped). */
export function normalizeOrigin(raw: string): string | undefined {
  if (!/^https?:\/\/[^/?#@\\\s]+$/i.test(raw)) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return undefined
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined
  return url.origin
}

function webOrigin(raw: string): { value?: string; problem?: string } {
  const origin = normalizeOrigin(raw)
  const shown = raw.includes('@') ? 'an entry with userinfo' : `'${raw}'` // never echo a credential
  return origin ? { value: origin } : { problem: `${shown} is not an origin like https://app.example or http://localhost:3000` }
}

/** `alias=provider/model`, the alias free of `/` and `=`. */
function modelAlias(raw: string): { value?: string; problem?: string } {
  return /^[\w.:-]{1,64}=(openai|anthropic)\/[\w.:/-]{1,128}$/.test(raw)
    ? { value: raw }
    : { problem: `'${raw.slice(0, 80)}' is not alias=openai/<model> or alias=anthropic/<model>` }
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

function parse(name: string, entry: ConfigEntry, raw: string): { value?: unknown; problem?: string } {
  switch (entry.kind) {
    case 'string':
      return raw.length === 0 ? { problem: `${name}: must not be empty` } : { value: raw }
    case 'int': {
      if (!/^-?\d+$/.test(raw)) return { problem: `${name}: must be a whole number` }
      const n = Number(raw)
      if (n < entry.min || n > entry.max) return { problem: `${name}: must be between ${entry.min} and ${entry.max}` }
      return { value: n }
    }
    case 'bool':
      if (raw === 'true' || raw === '1') return { value: true }
      if (raw === 'false' || raw === '0') return { value: false }
      return { problem: `${name}: must be true, false, 1 or 0` }
    case 'url':
      try {
        new URL(raw)
        return { value: raw }
      } catch {
        return { problem: `${name}: must be a URL` }
      }
    case 'enum': {
      const values: readonly string[] = entry.values
      return values.includes(raw) ? { value: raw } : { problem: `${name}: must be one of ${values.join(', ')}` }
    }
    case 'list': {
      const values: string[] = []
      for (const part of raw.split(',')) {
        const item = part.trim()
        if (item.length === 0) return { problem: `${name}: empty entry in the comma-separated list` }
        const checked = entry.item ? entry.item(item) : { value: item }
        if (checked.problem !== undefined) return { problem: `${name}: ${checked.problem}` }
        if (checked.value !== undefined && !values.includes(checked.value)) values.push(checked.value)
      }
      return { value: values }
    }
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = target
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>
  node[parts.at(-1)!] = value
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v)
    Object.freeze(obj)
  }
  return obj
}

/** Builds the frozen Config from an environment map; throws one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [name, entry] of Object.entries(ENV)) {
    const raw = env[name]
    if (raw === undefined || raw === '') {
      setPath(out, entry.path, entry.kind === 'list' ? [] : entry.default)
      continue
    }
    const { value, problem } = parse(name, entry, raw)
    if (problem) problems.push(problem)
    else setPath(out, entry.path, value)
  }
  const cfg = out as unknown as Config
  if (problems.length === 0) {
    if (cfg.role === 'worker' && !cfg.redis.url) problems.push('OPENVESPER_ROLE: role worker needs REDIS_URL (workers take async runs from the shared queue)')
    if (cfg.role === 'worker' && !cfg.database.url) problems.push('OPENVESPER_ROLE: role worker needs DATABASE_URL (embedded PGlite belongs to one process)')
    if (cfg.role === 'api' && !cfg.redis.url) problems.push('OPENVESPER_ROLE: role api needs REDIS_URL (async runs go to workers through the shared queue)')
    if (cfg.redis.url && !cfg.database.url) problems.push('REDIS_URL: server mode needs DATABASE_URL too (set both, or neither for embedded mode)')
    if (cfg.upstream.model && !/^(echo|(openai|anthropic)\/[\w.:/-]+)$/.test(cfg.upstream.model))
      problems.push('OPENVESPER_MODEL: must be echo, openai/<model> or anthropic/<model>')
  }
  if (problems.length) throw new ConfigError(problems)
  return deepFreeze(cfg)
}

const SECRET_PATHS = Object.values(ENV)
  .filter((e) => e.secret)
  .map((e) => e.path)

/** The loggable form: secrets replaced by a marker, URL credentials removed. */
export function redactConfig(config: Config): unknown {
  const copy = structuredClone(config) as unknown as Record<string, unknown>
  for (const path of SECRET_PATHS) {
    const parts = path.split('.')
    let node: Record<string, unknown> | undefined = copy
    for (const part of parts.slice(0, -1)) node = node?.[part] as Record<string, unknown> | undefined
    const key = parts.at(-1)!
    if (node && node[key] !== undefined) node[key] = redactValue(String(node[key]))
  }
  return copy
}

function redactValue(value: string): string {
  try {
    const url = new URL(value)
    if (url.protocol.startsWith('http') && !url.password && !url.username) return value
    url.username = url.username ? '***' : ''
    url.password = url.password ? '***' : ''
    return url.toString()
  } catch {
    return '***'
  }
}

/** Markdown table of every environment variable, for the README. */
export function envTable(): string {
  const rows = Object.entries(ENV).map(
    ([name, e]) => `| \`${name}\` | ${e.default === undefined ? '—' : `\`${e.default}\``} | ${e.description}${e.secret ? ' (secret)' : ''} |`,
  )
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}
