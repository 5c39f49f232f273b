import { loadConfig } from '@openvesper/config'
import { type CounterStore, createInProcessCounterStore } from '@openvesper/queue'
import { AppError } from '@openvesper/shared'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { Redis } from 'ioredis'
import { leaseSize, normalizeAddress } from '../../src/rate-limit/index.js'
import { createRuntime } from '../../src/runtime.js'
import { bearer, buildTestApp, MODES, type TestApp, type TestMode } from '../support/helpers.js'
import { expectProblem } from '../support/http-assertions.js'

const AUTH_FAIL_LIMIT = 5
const RATE_LIMIT = 8
const WINDOW_MS = 60_000

/** A fresh client address per test (TEST-NET-2), so tests never share a bucket. */
let clientCounter = 0
const nextClient = () => `198.51.100.${++clientCounter}`

function expectRateLimited(res: LightMyRequestResponse): void {
  expectProblem(res, 429, 'rate_limited')
  const retryAfter = Number(res.headers['retry-after'])
  expect(Number.isInteger(retryAfter), `Retry-After: ${res.headers['retry-after']}`).toBe(true)
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000)
}

interface Instance {
  app: FastifyInstance
  close(): Promise<void>
}

/**
 * Another gateway next to `t`: in server mode a second runtime on the same database and Redis prefix (as a second
 * process would be); in embedded mode a second app over the same runtime (embedded mode is one process). `env` is
 * the configuration `t` was built with; `appEnv` only changes this instance's HTTP settings (trusted proxies).
 */
async function secondInstance(t: TestApp, mode: TestMode, env: Record<string, string>, appEnv: Record<string, string> = {}): Promise<Instance> {
  const log = pino({ level: 'silent' })
  if (mode === 'embedded') {
    const app = await buildApp({ config: loadConfig({ ...env, ...appEnv }), services: t.services, log })
    await app.ready()
    return { app, close: () => app.close() }
  }
  const config = loadConfig({
    ...env,
    ...appEnv,
    OPENVESPER_ROLE: 'api',
    OPENVESPER_TOKEN: t.adminToken,
    DATABASE_URL: t.databaseUrl!,
    REDIS_URL: t.redis!.url,
    OPENVESPER_REDIS_PREFIX: t.redis!.prefix,
    OPENVESPER_DB_POOL_MAX: '2',
    OPENVESPER_DB_MIGRATE: 'false',
    OPENVESPER_LOG_LEVEL: 'silent',
    OPENVESPER_CONFIG: '/nonexistent/openvesper.config.json',
  })
  const runtime = await createRuntime(config, log)
  await runtime.start('api')
  const app = await buildApp({ config, services: runtime.services, log })
  await app.ready()
  return {
    app,
    async close() {
      await app.close()
      await runtime.stop(2000)
    },
  }
}

describe('client addresses', () => {
  it('writes one client one way: IPv4-mapped IPv6 as IPv4, IPv6 compressed and lowercase', () => {
    expect(normalizeAddress('203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeAddress('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeAddress('::FFFF:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeAddress('0:0:0:0:0:ffff:cb00:7107')).toBe('203.0.113.7')
    expect(normalizeAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1')
    expect(normalizeAddress('::1')).toBe('::1')
    expect(normalizeAddress('not-an-ip')).toBeUndefined()
    expect(normalizeAddress('203.0.113.7, 10.0.0.1')).toBeUndefined()
  })

  it('validates OPENVESPER_TRUST_PROXY at boot', () => {
    expect(loadConfig({ OPENVESPER_TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,::1,fd00::/8,loopback' }).server.trustProxy).toEqual([
      '10.0.0.1',
      '192.168.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ])
    expect(loadConfig({}).server.trustProxy).toEqual([])
    for (const bad of ['10.0.0.1,', 'proxy.example', '10.0.0.0/33', '10.0.0.1/8/8', '*'])
      expect(() => loadConfig({ OPENVESPER_TRUST_PROXY: bad }), bad).toThrow(/OPENVESPER_TRUST_PROXY/)
  })
})

describe.each(MODES)('failed-authentication throttle, A08 (%s mode)', (mode) => {
  const env = { OPENVESPER_AUTH_FAIL_LIMIT: String(AUTH_FAIL_LIMIT), OPENVESPER_AUTH_FAIL_WINDOW_MS: String(WINDOW_MS) }
  let t: TestApp
  let other: Instance
  const as = (remoteAddress: string, opts: InjectOptions, app = t.app) => app.inject({ ...opts, remoteAddress })

  beforeAll(async () => {
    t = await buildTestApp({ mode, env })
    other = await secondInstance(t, mode, { ...env, OPENVESPER_RATE_LIMIT: '10000000' })
  })
  afterAll(async () => {
    await other?.close()
    await t?.close()
  })

  it('counts failures over IPv4, IPv4-mapped IPv6, extra credentials and spoofed forwarding headers in one bucket', async () => {
    const client = nextClient()
    const attempts: [string, InjectOptions][] = [
      [client, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong_1') }],
      [`::ffff:${client}`, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong_2') }],
      [client, { method: 'GET', url: `/auth/tokens?token=${t.adminToken}`, headers: { ...bearer('ovk_wrong_3'), 'x-api-key': 'bogus' } }],
      [client, { method: 'GET', url: '/agent/run/run_0000000000000000', headers: { ...bearer('ovk_wrong_4'), 'x-forwarded-for': '192.0.2.1' } }],
      [
        `::ffff:${client}`,
        {
          method: 'POST',
          url: '/agent/async',
          headers: { 'x-forwarded-for': '192.0.2.2', forwarded: 'for=192.0.2.3', 'x-real-ip': '192.0.2.4' },
          payload: { message: 'x' },
        },
      ],
    ]
    expect(attempts).toHaveLength(AUTH_FAIL_LIMIT)
    for (const [address, opts] of attempts) expectProblem(await as(address, opts), 401, 'unauthorized')

    for (const [i, address] of [client, `::ffff:${client}`, client].entries()) {
      const spoofed = { 'x-forwarded-for': `192.0.2.${100 + i}`, forwarded: `for=192.0.2.${110 + i}`, 'x-real-ip': `192.0.2.${120 + i}` }
      expectRateLimited(await as(address, { method: 'GET', url: '/auth/tokens', headers: { ...bearer('ovk_wrong'), ...spoofed } }))
    }
    // Throttled means throttled: no credential is looked at, a valid one included, and unknown paths too.
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }))
    expectRateLimited(await as(client, { method: 'GET', url: '/nope', headers: bearer(t.adminToken) }))
    expectRateLimited(await as(client, { method: 'GET', url: '/ws', headers: bearer(t.adminToken) }))
    // Public routes do not authenticate, so they stay open.
    expect((await as(client, { method: 'GET', url: '/health' })).statusCode).toBe(200)

    // Another client is unaffected, with a valid token or with a wrong one.
    const neighbour = nextClient()
    expect((await as(neighbour, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })).statusCode).toBe(200)
    expectProblem(await as(neighbour, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong') }), 401, 'unauthorized')
  })

  it('counts 401s only: a wrong scope (403) and a valid token do not consume the budget', async () => {
    const client = nextClient()
    const low = await t.tokenWith(['runs:read'])
    for (let i = 0; i < AUTH_FAIL_LIMIT * 2; i++) {
      expectProblem(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(low) }), 403, 'forbidden')
      expect((await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })).statusCode).toBe(200)
    }
    for (let i = 0; i < AUTH_FAIL_LIMIT; i++) expectProblem(await as(client, { method: 'GET', url: '/auth/tokens' }), 401, 'unauthorized')
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }))
  })

  it('answers requests with an unsupported method before authentication, so they never consume the budget', async () => {
    const client = nextClient()
    const unsupported: InjectOptions[] = [
      { method: 'PATCH', url: '/auth/tokens' },
      { method: 'PUT', url: '/auth/tokens' },
      { method: 'DELETE', url: '/agent/async' },
      { method: 'OPTIONS', url: '/agent/run/run_0000000000000000' },
      { method: 'POST', url: '/health' },
      { method: 'PUT', url: '/ws?token=ovk_wrong' },
    ]
    for (let round = 0; round < 3; round++) {
      for (const opts of unsupported) {
        const res = await as(client, { ...opts, headers: bearer(`ovk_wrong_${round}`) })
        expectProblem(res, 404, 'not_found')
        // The same answer with a valid token: the method check reveals nothing about the credential.
        expectProblem(await as(client, { ...opts, headers: bearer(t.adminToken) }), 404, 'not_found')
      }
    }
    // The whole budget is still there.
    for (let i = 0; i < AUTH_FAIL_LIMIT; i++)
      expectProblem(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong') }), 401, 'unauthorized')
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong') }))
    // Unknown paths are not a way around the budget either: they need a valid token to learn they are unknown.
    const prober = nextClient()
    for (let i = 0; i < AUTH_FAIL_LIMIT; i++)
      expectProblem(await as(prober, { method: 'GET', url: `/nope/${i}`, headers: bearer('ovk_wrong') }), 401, 'unauthorized')
    expectRateLimited(await as(prober, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }))
  })

  it('shares the budget between gateway instances', async () => {
    const client = nextClient()
    for (let i = 0; i < AUTH_FAIL_LIMIT; i++) {
      const app = i % 2 === 0 ? t.app : other.app
      expectProblem(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong') }, app), 401, 'unauthorized')
    }
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }, t.app))
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }, other.app))
  })

  it('refuses the client on a gateway that saw none of its failures once another counted the last one', async () => {
    const client = nextClient()
    const valid: InjectOptions = { method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }
    // `other` has served this client (server mode: it holds a lease of 64 requests) and knows of no failure.
    expect((await as(client, valid, other.app)).statusCode).toBe(200)
    for (let i = 0; i < AUTH_FAIL_LIMIT; i++)
      expectProblem(await as(client, { method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong') }), 401, 'unauthorized')
    // The announcement travels through Redis: allow a few requests for its delivery, far fewer than the lease.
    let answer = await as(client, valid, other.app)
    for (let i = 0; i < 5 && answer.statusCode !== 429; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      answer = await as(client, valid, other.app)
    }
    expectRateLimited(answer)
  })
})

describe.each(MODES)('global per-client rate limit, A20 (%s mode)', (mode) => {
  const PROXY = '10.9.9.9'
  const env = { OPENVESPER_RATE_LIMIT: String(RATE_LIMIT), OPENVESPER_RATE_LIMIT_WINDOW_MS: String(WINDOW_MS) }
  let t: TestApp
  let other: Instance
  let proxied: Instance
  const as = (remoteAddress: string, opts: InjectOptions, app = t.app) => app.inject({ ...opts, remoteAddress })
  const list = (headers: Record<string, string> = {}): InjectOptions => ({
    method: 'GET',
    url: '/auth/tokens',
    headers: { ...bearer(t.adminToken), ...headers },
  })

  beforeAll(async () => {
    t = await buildTestApp({ mode, env })
    other = await secondInstance(t, mode, env)
    proxied = await secondInstance(t, mode, env, { OPENVESPER_TRUST_PROXY: `${PROXY},192.168.0.0/16` })
  })
  afterAll(async () => {
    await proxied?.close()
    await other?.close()
    await t?.close()
  })

  it('answers 429 with Retry-After past the limit, before authentication, and never limits GET /health', async () => {
    const client = nextClient()
    for (let i = 0; i < RATE_LIMIT * 2; i++) expect((await as(client, { method: 'GET', url: '/health' })).statusCode).toBe(200)
    for (let i = 0; i < RATE_LIMIT; i++) expect((await as(client, list())).statusCode).toBe(200)
    expectRateLimited(await as(client, list()))
    expectRateLimited(await as(`::ffff:${client}`, list()))
    // Refused before any credential is looked up.
    expectRateLimited(await as(client, { method: 'GET', url: '/auth/tokens' }))
    expectRateLimited(await as(client, { method: 'GET', url: '/nope' }))
    expect((await as(client, { method: 'GET', url: '/health' })).statusCode).toBe(200)
    expect((await as(client, { method: 'HEAD', url: '/health' })).statusCode).toBe(200)
    expect((await as(nextClient(), list())).statusCode).toBe(200)
  })

  it('ignores X-Forwarded-For, Forwarded and X-Real-IP from a peer that is not a trusted proxy', async () => {
    for (const app of [t.app, proxied.app]) {
      const client = nextClient()
      for (let i = 0; i < RATE_LIMIT; i++) {
        const spoofed = { 'x-forwarded-for': `192.0.2.${i}`, forwarded: `for=192.0.2.${i + 50}`, 'x-real-ip': `192.0.2.${i + 100}` }
        expect((await as(client, list(spoofed), app)).statusCode).toBe(200)
      }
      expectRateLimited(await as(client, list({ 'x-forwarded-for': '192.0.2.250' }), app))
      expectRateLimited(await as(client, list({ forwarded: 'for=192.0.2.251', 'x-real-ip': '192.0.2.252' }), app))
    }
  })

  it('uses the forwarded client address from a configured trusted proxy', async () => {
    const [first, second] = [nextClient(), nextClient()]
    for (let i = 0; i < RATE_LIMIT; i++) {
      // A client-supplied X-Forwarded-For entry to the left of what the proxy appended is not believed.
      const via = i % 2 === 0 ? PROXY : `::ffff:${PROXY}`
      expect((await as(via, list({ 'x-forwarded-for': `192.0.2.${i}, ${first}` }), proxied.app)).statusCode).toBe(200)
    }
    expectRateLimited(await as(PROXY, list({ 'x-forwarded-for': first }), proxied.app))
    // A chain of trusted proxies ends at the first untrusted address.
    expectRateLimited(await as(PROXY, list({ 'x-forwarded-for': `${first}, 192.168.1.1` }), proxied.app))
    // Another client behind the same proxy has its own bucket, and so has the proxy itself.
    expect((await as(PROXY, list({ 'x-forwarded-for': second }), proxied.app)).statusCode).toBe(200)
    expect((await as(PROXY, list(), proxied.app)).statusCode).toBe(200)
    // The address the proxy forwarded is the client's bucket on the gateway where it connects directly, too.
    expectRateLimited(await as(first, list()))
  })

  it('shares the limit between gateway instances', async () => {
    const client = nextClient()
    for (let i = 0; i < RATE_LIMIT; i++) expect((await as(client, list(), i % 2 === 0 ? t.app : other.app)).statusCode).toBe(200)
    expectRateLimited(await as(client, list(), t.app))
    expectRateLimited(await as(client, list(), other.app))
  })
})

describe.each(MODES)('rate limit leases, larger limits (%s mode)', (mode) => {
  const LIMIT = 320 // leases of 10 in server mode
  const env = { OPENVESPER_RATE_LIMIT: String(LIMIT), OPENVESPER_RATE_LIMIT_WINDOW_MS: String(WINDOW_MS) }
  let t: TestApp
  let other: Instance
  const as = (remoteAddress: string, app = t.app) => app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken), remoteAddress })

  beforeAll(async () => {
    t = await buildTestApp({ mode, env })
    other = await secondInstance(t, mode, env)
  })
  afterAll(async () => {
    await other?.close()
    await t?.close()
  })

  it('sizes leases from the limit: exact below 64, at most 64', () => {
    expect([1, 8, 63, 64, 320, 2048, 10_000_000].map(leaseSize)).toEqual([1, 1, 1, 2, 10, 64, 64])
  })

  it('lets exactly the limit through one gateway, taking the window in leases', async () => {
    const client = nextClient()
    expect((await as(client)).statusCode).toBe(200)
    if (mode === 'server') {
      // One request took a whole lease from the shared window.
      const admin = new Redis(t.redis!.url)
      try {
        expect(await admin.get(`${t.redis!.prefix}:counters:req:${client}`)).toBe(String(leaseSize(LIMIT)))
      } finally {
        admin.disconnect()
      }
    }
    const answers = await Promise.all(Array.from({ length: LIMIT + 20 }, () => as(client)))
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(LIMIT - 1)
    for (const res of answers.filter((r) => r.statusCode !== 200)) expectRateLimited(res)
    expectRateLimited(await as(client))
  })

  it('never lets more than the limit through two gateways; a lease left on one refuses at most that much early', async () => {
    const client = nextClient()
    let passed = 0
    for (let i = 0; i < LIMIT + 10; i++) if ((await as(client, i % 3 === 0 ? other.app : t.app)).statusCode === 200) passed++
    expect(passed).toBeLessThanOrEqual(LIMIT)
    expect(passed).toBeGreaterThanOrEqual(LIMIT - (leaseSize(LIMIT) - 1))
    expectRateLimited(await as(client, t.app))
    expectRateLimited(await as(client, other.app))
  })
})

describe('counter store outage', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ env: { OPENVESPER_RATE_LIMIT: '2', OPENVESPER_AUTH_FAIL_LIMIT: '1' } })
  })
  afterAll(async () => {
    await t?.close()
  })

  // 'redis': the in-process store standing in for Redis, so the limiter takes the shared (leased) path.
  it.each(['inprocess', 'redis'] as const)(
    'does not fail requests while the counters are unavailable, logs the outage once and enforces limits again after it (%s path)',
    async (kind) => {
      const real = createInProcessCounterStore()
      await real.start()
      let down = true
      const guarded =
        <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          if (down) throw new AppError('unavailable', 'counter store unavailable (hit, Redis at 127.0.0.1:6379): connection lost')
          return fn(...args)
        }
      const counters: CounterStore = { ...real, kind, hit: guarded(real.hit), peek: guarded(real.peek), take: guarded(real.take) }
      const lines: { level: number; msg: string }[] = []
      const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
      const app = await buildApp({ config: loadConfig({}), services: { ...t.services, limits: { ...t.services.limits, counters } }, log })
      try {
        const client = nextClient()
        for (let i = 0; i < 5; i++) {
          expect((await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken), remoteAddress: client })).statusCode).toBe(200)
          expectProblem(await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer('ovk_wrong'), remoteAddress: client }), 401, 'unauthorized')
        }
        expect(lines.filter((l) => l.msg.startsWith('rate limits: counter store unavailable'))).toHaveLength(1)

        down = false
        expect((await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken), remoteAddress: client })).statusCode).toBe(200)
        expect(lines.filter((l) => l.msg.startsWith('rate limits: the counter store is reachable again'))).toHaveLength(1)
        expect((await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken), remoteAddress: client })).statusCode).toBe(200)
        expectRateLimited(await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken), remoteAddress: client }))
      } finally {
        await app.close()
        await real.close()
      }
    },
  )
})

describe('strict request bodies, A17/A18', () => {
  let t: TestApp
  const admin = () => bearer(t.adminToken)

  beforeAll(async () => {
    t = await buildTestApp()
  })
  afterAll(async () => {
    await t?.close()
  })

  it('does not coerce body values to the schema type', async () => {
    const before = (await t.services.tokens.list()).length
    const cases: [string, unknown, string][] = [
      ['/auth/tokens', { name: 'x', scopes: 'admin' }, 'body.scopes'],
      ['/auth/tokens', { name: 5, scopes: ['runs:read'] }, 'body.name'],
      ['/auth/tokens', { name: 'x', scopes: [['runs:read']] }, 'body.scopes.0'],
      ['/auth/tokens', { name: ['x'], scopes: ['runs:read'] }, 'body.name'],
      ['/agent/async', { message: 123 }, 'body.message'],
      ['/agent/async', { message: 'x', agent: ['main'] }, 'body.agent'],
      ['/agent/async', { message: true }, 'body.message'],
      ['/agent/run/run_0000000000000000/wait', { timeoutMs: '5' }, 'body.timeoutMs'],
      ['/agent/run/run_0000000000000000/wait', { timeoutMs: [5] }, 'body.timeoutMs'],
      ['/agent/run/run_0000000000000000/wait', { timeoutMs: true }, 'body.timeoutMs'],
      ['/agent/run/run_0000000000000000/wait', { timeoutMs: null }, 'body.timeoutMs'],
    ]
    for (const [url, payload, path] of cases) {
      const res = await t.app.inject({ method: 'POST', url, headers: admin(), payload: payload as Record<string, unknown> })
      const problem = expectProblem(res, 400, 'invalid_request')
      expect(problem.errors?.[0]?.path, `${url} ${JSON.stringify(payload)}`).toBe(path)
    }
    // Unknown properties are still errors, not silently dropped.
    const unknown = expectProblem(
      await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: admin(), payload: { name: 'x', scopes: ['runs:read'], extra: 1 } }),
      400,
      'invalid_request',
    )
    expect(unknown.errors).toEqual([{ path: 'body.extra', message: 'unknown property' }])
    expect((await t.services.tokens.list()).length).toBe(before)
  })

  it('still converts querystring values and accepts well-typed bodies', async () => {
    const accepted = await t.app.inject({ method: 'POST', url: '/agent/async', headers: admin(), payload: { message: 'hello' } })
    expect(accepted.statusCode).toBe(202)
    const { runId } = accepted.json()
    const waited = await t.app.inject({ method: 'POST', url: `/agent/run/${runId}/wait`, headers: admin(), payload: { timeoutMs: 20_000 } })
    expect(waited.statusCode).toBe(200)
    expect(waited.json().status).toBe('completed')
    const lastSeq: number = waited.json().lastEventSeq
    expect(lastSeq).toBeGreaterThan(3)

    const all = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}/events`, headers: admin() })
    expect(all.statusCode).toBe(200)
    const ids = (body: string) => [...body.matchAll(/^id: ?(\d+)$/gm)].map((m) => Number(m[1]))
    expect(ids(all.body)[0]).toBe(1)
    const after = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}/events?after=3`, headers: admin() })
    expect(after.statusCode).toBe(200)
    expect(ids(after.body)[0]).toBe(4)
    expect(ids(after.body).at(-1)).toBe(lastSeq)

    for (const bad of ['abc', '3.5', '-1', '', '0x10', '3&after=4']) {
      const res = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}/events?after=${bad}`, headers: admin() })
      expect(expectProblem(res, 400, 'invalid_request').errors?.[0]?.path, `after=${bad}`).toBe('querystring.after')
    }
  })
})
