import { randomBytes } from 'node:crypto'
import { ENV, loadConfig } from '@openvesper/config'
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from '@openvesper/testing'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { createLogger } from '../../src/http/logger.js'
import { createLeakWatch, type LeakWatch } from './leak-watch.js'
import { createRuntime, type Runtime } from '../../src/runtime.js'
import type { Services } from '../../src/services.js'

export type TestMode = 'embedded' | 'server'
export const MODES: TestMode[] = ['embedded', 'server']

export interface TestApp {
  app: FastifyInstance
  runtime: Runtime
  services: Services
  adminToken: string
  /** A fresh token holding exactly these scopes, for a new principal unless one is given. */
  tokenWith(scopes: string[], principalId?: string): Promise<string>
  /** The Postgres URL (server mode) so tests can inspect rows; undefined in embedded mode. */
  databaseUrl?: string
  redis?: TestRedis
  /** Secrets this app must never show (A26); a test adds the ones it makes. Checked by close(). */
  leaks: LeakWatch
  /** Closes the app and fails when a secret reached its logs, answers or Redis keys (A26). */
  close(): Promise<void>
}

/**
 * A started runtime and its Fastify app. `embedded`: in-memory PGlite + in-process queue and bus;
 * `server`: a cloned Postgres database + BullMQ/Redis under a unique prefix. Close it in afterAll.
 *
 * Every app is a secret canary scan (A26): its admin token, the tokens of `tokenWith`, the provider API keys (canary
 * values unless a suite sets its own) and every other secret setting are watched in its log (at debug level, captured
 * in memory; OPENVESPER_TEST_LOG_LEVEL also prints it), its HTTP answers and its Redis keys and values; close() fails
 * on a finding.
 */
export async function buildTestApp(options: { mode?: TestMode; env?: Record<string, string>; join?: TestApp } = {}): Promise<TestApp> {
  const mode = options.join ? 'server' : (options.mode ?? 'embedded')
  let database: TestDatabase | undefined
  let redis: TestRedis | undefined
  const adminToken = `ovk_test_admin_${Math.random().toString(36).slice(2)}`
  const env: Record<string, string> = {
    OPENVESPER_TOKEN: adminToken,
    // Canary provider keys; with them set, a suite that names no model would default to OpenAI: echo, as without keys.
    OPENAI_API_KEY: `sk-canary-openai-${randomBytes(9).toString('base64url')}`,
    ANTHROPIC_API_KEY: `sk-ant-canary-${randomBytes(9).toString('base64url')}`,
    OPENVESPER_MODEL: 'echo',
    OPENVESPER_DATA_DIR: 'memory://',
    OPENVESPER_LOG_LEVEL: process.env.OPENVESPER_TEST_LOG_LEVEL ?? 'debug',
    OPENVESPER_CONFIG: '/nonexistent/openvesper.config.json',
    OPENVESPER_RECONCILE_INTERVAL_MS: '500',
    // Suites send hundreds of requests and deliberate 401s from one address; limits.test.ts sets small limits.
    OPENVESPER_RATE_LIMIT: '10000000',
    OPENVESPER_AUTH_FAIL_LIMIT: '1000000',
    ...options.env,
  }
  if (options.join) {
    // A second gateway on the same database and Redis prefix (the first one owns and cleans them up).
    const { databaseUrl, redis: joined } = options.join
    if (!databaseUrl || !joined) throw new Error('join needs a server-mode test app')
    env.DATABASE_URL = databaseUrl
    env.REDIS_URL = joined.url
    env.OPENVESPER_REDIS_PREFIX = joined.prefix
    env.OPENVESPER_DB_POOL_MAX ??= '5'
  } else if (mode === 'server') {
    database = await createTestDatabase()
    redis = await createTestRedis()
    env.DATABASE_URL = database.url
    env.REDIS_URL = redis.url
    env.OPENVESPER_REDIS_PREFIX = redis.prefix
    env.OPENVESPER_DB_POOL_MAX ??= '5'
  }
  const config = loadConfig(env)
  const leaks = createLeakWatch({ echo: process.env.OPENVESPER_TEST_LOG_LEVEL !== undefined })
  for (const [name, entry] of Object.entries(ENV)) if (entry.secret) leaks.secret(env[name])
  const log = createLogger(config.server.logLevel, leaks.logStream)
  const runtime = await createRuntime(config, log)
  await runtime.start(config.role)
  const app = await buildApp({ config, services: runtime.services, log })
  leaks.watchResponses(app)
  await app.ready()
  return {
    app,
    runtime,
    services: runtime.services,
    adminToken,
    databaseUrl: database?.url ?? options.join?.databaseUrl,
    redis: redis ?? options.join?.redis,
    leaks,
    async tokenWith(scopes, principalId) {
      const { token } = await runtime.services.tokens.create({ name: 'test', scopes, principalId })
      leaks.secret(token)
      return token
    },
    async close() {
      await app.close()
      await runtime.stop(2000)
      try {
        if (redis) await leaks.scanRedis(redis)
      } finally {
        await redis?.cleanup()
        await database?.drop()
      }
      leaks.check()
    },
  }
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The settings that point a gateway at a fake upstream (OpenAI wire format, model `openai/test-model`). */
export const upstreamEnv = (up: { url: string }, extra: Record<string, string> = {}): Record<string, string> => ({
  OPENAI_BASE_URL: `${up.url}/v1`,
  OPENVESPER_MODEL: 'openai/test-model',
  ...extra,
})
