import type { AddressInfo } from 'node:net'
import { loadConfig } from '@openvesper/config'
import { createDb, migrate } from '@openvesper/db'
import { systemClock } from '@openvesper/shared'
import { createEmbeddedDb, waitFor } from '@openvesper/testing'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, redactUrl } from '../../src/app.js'
import { constantTimeEqual, createTokensService, hasScopes, isWellFormedToken, type Scope, SCOPES, type TokensService } from '@openvesper/access'
import type { Services } from '../../src/services.js'
import { bearer, buildTestApp, type TestApp } from '../support/helpers.js'
import { expectErrorBody, expectProblem, rawStatus } from '../support/http-assertions.js'
import { collectRoutes, routeKey, type RouteInfo, samplePath } from '../support/inventory.js'

const isPublic = (r: RouteInfo) => r.auth !== undefined && 'public' in r.auth
const isStreaming = (r: RouteInfo) => r.auth !== undefined && 'scopes' in r.auth && r.auth.streaming === true
const requiredScopes = (r: RouteInfo): Scope[] => (r.auth && 'scopes' in r.auth ? r.auth.scopes : [])
const withQuery = (path: string, query: string) => `${path}${path.includes('?') ? '&' : '?'}${query}`

/** An app over the same runtime services whose log lines are captured. */
async function loggedApp(services: Services, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; lines: string[] }> {
  const lines: string[] = []
  const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) })
  const app = await buildApp({ config: loadConfig(env), services, log })
  await app.ready()
  return { app, lines }
}

describe('authentication and authorization (HTTP)', () => {
  let t: TestApp
  let routes: RouteInfo[]
  let protectedRoutes: RouteInfo[]
  const scopeTokens = new Map<Scope, string>()
  const inject = (opts: InjectOptions) => t.app.inject(opts)

  beforeAll(async () => {
    t = await buildTestApp()
    routes = await collectRoutes()
    protectedRoutes = routes.filter((r) => !isPublic(r))
    for (const scope of SCOPES) scopeTokens.set(scope, await t.tokenWith([scope]))
  })
  afterAll(async () => {
    await t?.close()
  })

  describe('A01 route inventory is fully protected', () => {
    it('answers 401 without credentials on every registered route (HEAD and WebSocket included) except GET /health', async () => {
      expect(routes.some((r) => r.method === 'HEAD')).toBe(true)
      expect(routes.some((r) => r.websocket)).toBe(true)
      for (const r of routes) {
        const res = await inject({ method: r.method as InjectOptions['method'], url: samplePath(r) })
        if (isPublic(r)) {
          expect(['GET /health', 'HEAD /health'], `${routeKey(r)} is public`).toContain(routeKey(r))
          expect(res.statusCode).toBe(200)
          continue
        }
        expect(res.statusCode, `${routeKey(r)} without credentials`).toBe(401)
        expect(res.headers['www-authenticate']).toBe('Bearer')
        if (r.method !== 'HEAD') expectErrorBody(res, 401, 'unauthorized')
      }
    })

    it('serves GET /health with exactly { status: "ok" } and nothing else', async () => {
      const res = await inject({ method: 'GET', url: '/health' })
      expect(res.statusCode).toBe(200)
      expect(res.json()).toStrictEqual({ status: 'ok' })
      expect(res.body).toBe('{"status":"ok"}')
    })

    it('answers 401 on unknown paths without a token and 404 with one, so unknown paths reveal nothing', async () => {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
        for (const url of ['/nope', '/HEALTH', '/admin', '/agent/run', '/metrics', '/debug/pprof', '/.env']) {
          expectProblem(await inject({ method, url }), 401, 'unauthorized')
          expectProblem(await inject({ method, url, headers: bearer(t.adminToken) }), 404, 'not_found')
        }
      }
      expect((await inject({ method: 'HEAD', url: '/nope' })).statusCode).toBe(401)
    })

    it('serves Swagger UI only to token holders unless OPENVESPER_DOCS_PUBLIC is set', async () => {
      expect((await inject({ method: 'GET', url: '/docs' })).statusCode).toBe(401)
      expect((await inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(401)
      const low = scopeTokens.get('runs:read')!
      expect((await inject({ method: 'GET', url: '/docs', headers: bearer(low) })).statusCode).toBe(200)
      const spec = await inject({ method: 'GET', url: '/docs/json', headers: bearer(low) })
      expect(spec.statusCode).toBe(200)
      expect(spec.json().openapi).toBe('3.1.0')

      const open = await loggedApp(t.services, { OPENVESPER_DOCS_PUBLIC: 'true' })
      try {
        expect((await open.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(200)
        expect((await open.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200)
        expect((await open.app.inject({ method: 'GET', url: '/auth/tokens' })).statusCode).toBe(401)
      } finally {
        await open.app.close()
      }
    })
  })

  describe('A02 malformed credentials never error or succeed', () => {
    const variants = (valid: string): [string, InjectOptions['headers']][] => {
      const flipped = `${valid.slice(0, -1)}${valid.endsWith('a') ? 'b' : 'a'}`
      return [
        ['no header', {}],
        ['empty Bearer', { authorization: 'Bearer' }],
        ['Bearer and one space', { authorization: 'Bearer ' }],
        ['Bearer and two spaces', { authorization: 'Bearer  ' }],
        ['two spaces before the token', { authorization: `Bearer  ${valid}` }],
        ['tab separator', { authorization: `Bearer\t${valid}` }],
        ['lowercase scheme', { authorization: `bearer ${valid}` }],
        ['Basic', { authorization: `Basic ${Buffer.from(`admin:${valid}`).toString('base64')}` }],
        ['token without scheme', { authorization: valid }],
        ['two Authorization headers', { authorization: [`Bearer ${valid}`, `Bearer ${valid}`] as unknown as string }],
        ['trailing LF', { authorization: `Bearer ${valid}\n` }],
        ['trailing CR', { authorization: `Bearer ${valid}\r` }],
        ['trailing NUL', { authorization: `Bearer ${valid}\u0000` }],
        ['64 KB token', { authorization: `Bearer ${'a'.repeat(65_536)}` }],
        ['last byte differs', { authorization: `Bearer ${flipped}` }],
        ['multibyte token of the same length', { authorization: `Bearer ${'é'.repeat(valid.length)}` }],
        ['SQL metacharacters', { authorization: "Bearer ' OR '1'='1" }],
        ['SQL metacharacters without spaces', { authorization: "Bearer '||'1'='1'--" }],
      ]
    }

    it('answers 401 to every malformed credential on every protected route, without database errors', async () => {
      const tokens = t.services.tokens
      const original = tokens.verify
      const failures: unknown[] = []
      tokens.verify = async (token) => {
        try {
          return await original(token)
        } catch (err) {
          failures.push(err)
          throw err
        }
      }
      try {
        for (const r of protectedRoutes) {
          for (const [name, headers] of variants(t.adminToken)) {
            const res = await inject({ method: r.method as InjectOptions['method'], url: samplePath(r), headers })
            expect([400, 401, 431], `${routeKey(r)} with ${name}: ${res.statusCode}`).toContain(res.statusCode)
            if (r.method !== 'HEAD' && res.statusCode === 401) expectErrorBody(res, 401, 'unauthorized')
          }
        }
      } finally {
        tokens.verify = original
      }
      expect(failures).toEqual([])
    })

    describe('over a real connection', () => {
      let port: number
      beforeAll(async () => {
        const app = (await loggedApp(t.services)).app
        await app.listen({ host: '127.0.0.1', port: 0 })
        port = (app.server.address() as AddressInfo).port
        afterAll(() => app.close())
      })
      const get = (headers: string) => `GET /auth/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`

      it('rejects duplicated, oversized and control-character credentials with 400/401/431', async () => {
        const valid = t.adminToken
        expect(await rawStatus(port, get(`Authorization: Bearer ${valid}\r\n`))).toBe(200)
        const cases = [
          `Authorization: Bearer ${valid}\r\nAuthorization: Bearer ${valid}\r\n`,
          `Authorization: Bearer x\r\nAuthorization: Bearer ${valid}\r\n`,
          `Authorization: Bearer ${'a'.repeat(65_536)}\r\n`,
          `Authorization: Bearer ${valid}\u0000\r\n`,
          `Authorization: Bearer ${valid}\r\r\n`,
          `Authorization: bearer ${valid}\r\n`,
          `Authorization: Bearer\r\n`,
          `Authorization: Bearer ${Buffer.from('é'.repeat(valid.length)).toString('latin1')}\r\n`,
        ]
        for (const headers of cases) {
          const status = await rawStatus(port, get(headers))
          expect([400, 401, 431], `${JSON.stringify(headers.slice(0, 80))} → ${status}`).toContain(status)
        }
      })
    })
  })

  describe('A03 scope matrix', () => {
    it('lets a token through exactly when it holds the route scope (403 otherwise), over every transport', async () => {
      let checked = 0
      for (const r of protectedRoutes) {
        for (const scope of SCOPES) {
          const token = scopeTokens.get(scope)!
          const allowed = hasScopes([scope], requiredScopes(r))
          const transports: InjectOptions[] = [{ url: samplePath(r), headers: bearer(token) }]
          if (isStreaming(r)) transports.push({ url: withQuery(samplePath(r), `token=${encodeURIComponent(token)}`) })
          // The Anthropic surface's x-api-key, the same token and scopes.
          if (r.auth && 'scopes' in r.auth && r.auth.apiKeyHeader) transports.push({ url: samplePath(r), headers: { 'x-api-key': token } })
          const statuses: number[] = []
          for (const transport of transports) {
            const res = await inject({ method: r.method as InjectOptions['method'], ...transport })
            statuses.push(res.statusCode)
            const via = transport.headers?.['x-api-key'] ? 'x-api-key' : transport.headers ? 'header' : 'query'
            const label = `${routeKey(r)} with ${scope} via ${via}: ${res.statusCode} ${res.body.slice(0, 120)}`
            if (allowed) {
              expect([401, 403], label).not.toContain(res.statusCode)
              expect(res.statusCode, label).toBeLessThan(500)
            } else if (r.method === 'HEAD') {
              expect(res.statusCode, label).toBe(403)
            } else {
              expectErrorBody(res, 403, 'forbidden')
            }
            checked++
          }
          expect(new Set(statuses).size, `${routeKey(r)} with ${scope}: transports disagree (${statuses.join(', ')})`).toBe(1)
        }
      }
      expect(checked).toBeGreaterThan(protectedRoutes.length)
    })

    it('lets the admin scope through every protected route', async () => {
      for (const r of protectedRoutes) {
        const res = await inject({ method: r.method as InjectOptions['method'], url: samplePath(r), headers: bearer(t.adminToken) })
        expect([401, 403], `${routeKey(r)}: ${res.statusCode}`).not.toContain(res.statusCode)
        expect(res.statusCode, routeKey(r)).toBeLessThan(500)
      }
    })

    it('requires admin for token management', async () => {
      for (const scope of SCOPES.filter((s) => s !== 'admin')) {
        const headers = bearer(scopeTokens.get(scope)!)
        expectProblem(await inject({ method: 'GET', url: '/auth/tokens', headers }), 403, 'forbidden')
        expectProblem(await inject({ method: 'POST', url: '/auth/tokens', headers, payload: { name: 'x', scopes: ['admin'] } }), 403, 'forbidden')
        expectProblem(await inject({ method: 'DELETE', url: '/auth/tokens/tok_0000000000000000', headers }), 403, 'forbidden')
      }
      expect((await inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })).statusCode).toBe(200)
    })
  })

  describe('A04 scopes are assigned by the server only', () => {
    it('ignores scope and role claims in headers, query strings and bodies', async () => {
      const low = scopeTokens.get('runs:read')!
      const before = (await t.services.tokens.list()).length
      const claims = {
        'x-scopes': 'admin',
        'x-scope': 'admin',
        'x-role': 'admin',
        'x-request-from': 'internal',
        'x-forwarded-user': 'admin',
        'x-principal-id': 'prn_admin',
        'x-openvesper-scopes': 'admin runs:write',
      }
      const headers = { ...bearer(low), ...claims }
      expectProblem(await inject({ method: 'GET', url: '/auth/tokens', headers }), 403, 'forbidden')
      expectProblem(await inject({ method: 'GET', url: '/auth/tokens?scopes=admin&role=admin&isAdmin=true', headers }), 403, 'forbidden')
      expectProblem(
        await inject({ method: 'POST', url: '/auth/tokens', headers, payload: { name: 'elevate', scopes: ['admin'], role: 'admin', isAdmin: true } }),
        403,
        'forbidden',
      )
      for (const r of protectedRoutes.filter((x) => x.method === 'POST' && !hasScopes(['runs:read'], requiredScopes(x)))) {
        const res = await inject({ method: 'POST', url: samplePath(r), headers, payload: { scopes: ['admin', 'runs:write'], role: 'admin', isAdmin: true } })
        expectErrorBody(res, 403, 'forbidden')
      }
      expect((await t.services.tokens.list()).length).toBe(before)
      // The same token still has exactly its stored scope.
      expect((await t.services.tokens.verify(low))?.scopes).toEqual(['runs:read'])
    })
  })

  describe('A06 revocation takes effect immediately', () => {
    it('rejects a token revoked through the API on the very next request', async () => {
      const created = await inject({ method: 'POST', url: '/auth/tokens', headers: bearer(t.adminToken), payload: { name: 'to revoke', scopes: ['admin'] } })
      expect(created.statusCode).toBe(201)
      const { id, token } = created.json()
      expect((await inject({ method: 'GET', url: '/auth/tokens', headers: bearer(token) })).statusCode).toBe(200)
      expect((await inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: bearer(t.adminToken) })).statusCode).toBe(204)
      expectProblem(await inject({ method: 'GET', url: '/auth/tokens', headers: bearer(token) }), 401, 'unauthorized')

      const listed = (await inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })).json().items
      const record = listed.find((x: { id: string }) => x.id === id)
      expect(record.revokedAt).toEqual(expect.any(String))
      expect(JSON.stringify(listed)).not.toContain(token)
      // Revoking twice keeps the first revocation time.
      expect((await inject({ method: 'DELETE', url: `/auth/tokens/${id}`, headers: bearer(t.adminToken) })).statusCode).toBe(204)
      const again = (await t.services.tokens.list()).find((x) => x.id === id)
      expect(again?.revokedAt?.toISOString()).toBe(record.revokedAt)
    })

    it('rejects a token revoked through the service on the very next request', async () => {
      const { token, record } = await t.services.tokens.create({ name: 'svc', scopes: ['runs:read'] })
      const url = '/agent/run/run_0000000000000000'
      expect((await inject({ method: 'GET', url, headers: bearer(token) })).statusCode).toBe(404)
      expect(await t.services.tokens.revoke(record.id)).toBe(true)
      expectProblem(await inject({ method: 'GET', url, headers: bearer(token) }), 401, 'unauthorized')
    })

    it('refuses a token another gateway has cached as soon as it is revoked (server mode, shared database and Redis)', async () => {
      const a = await buildTestApp({ mode: 'server' })
      // Same bootstrap token: a different one would rotate a's away.
      const b = await buildTestApp({ join: a, env: { OPENVESPER_AUTH_CACHE_MS: '300000', OPENVESPER_TOKEN: a.adminToken } })
      try {
        const { token, record } = await a.services.tokens.create({ name: 'cached elsewhere', scopes: ['runs:read'] })
        const url = '/agent/run/run_0000000000000000'
        // b verifies it once and now remembers it for 5 minutes.
        expect((await b.app.inject({ method: 'GET', url, headers: bearer(token) })).statusCode).toBe(404)
        expect((await a.app.inject({ method: 'DELETE', url: `/auth/tokens/${record.id}`, headers: bearer(a.adminToken) })).statusCode).toBe(204)
        // The broadcast arrives within milliseconds, not after the cache time.
        await waitFor(async () => (await b.app.inject({ method: 'GET', url, headers: bearer(token) })).statusCode === 401, { timeoutMs: 2000 })
        // A token nobody revoked keeps working on b from its cache.
        expect((await b.app.inject({ method: 'GET', url, headers: bearer(a.adminToken) })).statusCode).toBe(404)
      } finally {
        await b.close()
        await a.close()
      }
    })

    it('answers 404 when revoking an unknown token and 400 for a malformed id', async () => {
      expectProblem(await inject({ method: 'DELETE', url: '/auth/tokens/tok_zzzzzzzzzzzzzzzz', headers: bearer(t.adminToken) }), 404, 'not_found')
      for (const bad of ['..%2Fx', 'not-an-id', 'tok_', `tok_${'a'.repeat(90)}`, 'TOK_AAAAAAAAAA']) {
        expectProblem(await inject({ method: 'DELETE', url: `/auth/tokens/${bad}`, headers: bearer(t.adminToken) }), 400, 'invalid_request')
      }
    })
  })

  describe('A07 query-parameter credentials are confined and never leak', () => {
    it('answers 401 to ?token= on every non-streaming route, even with a valid header as well', async () => {
      const valid = encodeURIComponent(t.adminToken)
      for (const r of protectedRoutes.filter((x) => !isStreaming(x))) {
        const method = r.method as InjectOptions['method']
        const res = await inject({ method, url: withQuery(samplePath(r), `token=${valid}`) })
        expect(res.statusCode, routeKey(r)).toBe(401)
        const both = await inject({ method, url: withQuery(samplePath(r), `token=${valid}`), headers: bearer(t.adminToken) })
        expect(both.statusCode, `${routeKey(r)} with header and query`).toBe(401)
        if (r.method !== 'HEAD') expect(res.body).not.toContain(t.adminToken)
      }
      // Percent-encoded parameter names are the same parameter.
      expect((await inject({ method: 'GET', url: `/auth/tokens?%74oken=${valid}` })).statusCode).toBe(401)
    })

    it('accepts ?token= on streaming routes and sends Referrer-Policy: no-referrer there', async () => {
      const streaming = protectedRoutes.filter(isStreaming)
      expect(streaming.length).toBeGreaterThan(0)
      for (const r of streaming) {
        const res = await inject({ method: r.method as InjectOptions['method'], url: withQuery(samplePath(r), `token=${encodeURIComponent(t.adminToken)}`) })
        expect([401, 403], `${routeKey(r)}: ${res.statusCode}`).not.toContain(res.statusCode)
        expect(res.headers['referrer-policy'], routeKey(r)).toBe('no-referrer')
        const refused = await inject({ method: r.method as InjectOptions['method'], url: withQuery(samplePath(r), 'token=ovk_wrong') })
        expect(refused.statusCode).toBe(401)
        expect(refused.headers['referrer-policy'], routeKey(r)).toBe('no-referrer')
      }
    })

    it('never writes a query or fragment token to the log', async () => {
      const { app, lines } = await loggedApp(t.services)
      try {
        const secret = t.adminToken
        const urls = [
          ...protectedRoutes.map((r) => ({ method: r.method, url: withQuery(samplePath(r), `token=${encodeURIComponent(secret)}`) })),
          { method: 'GET', url: `/auth/tokens?TOKEN=${secret}&x=1` },
          { method: 'GET', url: `/auth/tokens?%74oken=${secret}` },
          { method: 'GET', url: `/nope?token=${secret}` },
          { method: 'GET', url: `/auth/tokens#token=${secret}` },
          { method: 'GET', url: `/health?token=${secret}` },
        ]
        for (const { method, url } of urls) {
          const res = await app.inject({ method: method as InjectOptions['method'], url })
          expect(res.body).not.toContain(secret)
        }
        await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(secret) })
        expect(lines.length).toBeGreaterThan(urls.length)
        expect(lines.filter((l) => l.includes(secret))).toEqual([])
        expect(lines.some((l) => l.includes('token=[redacted]'))).toBe(true)
      } finally {
        await app.close()
      }
    })

    it('redacts credential-like query parameters and fragments in logged URLs', () => {
      expect(redactUrl('/a?token=abc&x=1')).toBe('/a?token=[redacted]&x=1')
      expect(redactUrl('/a?x=1&%74oken=abc')).toBe('/a?x=1&%74oken=[redacted]')
      expect(redactUrl('/a?Access_Token=abc')).toBe('/a?Access_Token=[redacted]')
      expect(redactUrl('/a#token=abc')).toBe('/a#[redacted]')
      expect(redactUrl('/a?b=c')).toBe('/a?b=c')
    })
  })

  describe('dependency failure during authentication', () => {
    it('answers 503 unavailable (not 401 or 500) when the token database is down', async () => {
      const handle = createDb({ kind: 'pglite', dataDir: 'memory://' })
      await migrate(handle)
      await handle.close()
      const tokens = createTokensService({ db: handle.db, clock: systemClock })
      const { app, lines } = await loggedApp({ ...t.services, tokens })
      try {
        const res = await app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })
        const body = expectProblem(res, 503, 'unavailable')
        expect(body.detail).not.toMatch(/pglite|closed|sql/i)
        expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
        // Malformed credentials are still 401: they never reach the database.
        expect((await app.inject({ method: 'GET', url: '/auth/tokens', headers: { authorization: 'Basic x' } })).statusCode).toBe(401)
        expect(lines.some((l) => l.includes('token verification failed'))).toBe(true)
      } finally {
        await app.close()
      }
    })
  })
})

describe('tokens service', () => {
  let db: Awaited<ReturnType<typeof createEmbeddedDb>>
  let tokens: TokensService

  beforeAll(async () => {
    db = await createEmbeddedDb()
    tokens = createTokensService({ db: db.db, clock: systemClock })
  })
  afterAll(async () => {
    await db?.close()
  })

  it('stores only a SHA-256 digest and the last four characters', async () => {
    const { token, record } = await tokens.create({ name: 'n', scopes: ['runs:read'] })
    expect(token).toMatch(/^ovk_[A-Za-z0-9_-]{43}$/)
    expect(record.last4).toBe(token.slice(-4))
    expect(record.principalId).toMatch(/^prn_[0-9a-z]{8,64}$/)
    const row = await db.db.query.apiTokens.findFirst({ where: (t, { eq }) => eq(t.id, record.id) })
    expect(row?.tokenHash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(row)).not.toContain(token)
    expect(await tokens.verify(token)).toEqual({ id: record.principalId, tokenId: record.id, scopes: ['runs:read'] })
  })

  it('returns undefined for unknown, malformed and revoked tokens', async () => {
    const { token, record } = await tokens.create({ name: 'n', scopes: ['runs:read'] })
    expect(await tokens.verify(`${token}x`)).toBeUndefined()
    expect(await tokens.verify('')).toBeUndefined()
    expect(await tokens.verify('a'.repeat(513))).toBeUndefined()
    expect(await tokens.verify('é')).toBeUndefined()
    await tokens.revoke(record.id)
    expect(await tokens.verify(token)).toBeUndefined()
    expect(await tokens.revoke('tok_unknown00000')).toBe(false)
  })

  it('keeps the principal given at creation (rotation)', async () => {
    const first = await tokens.create({ name: 'a', scopes: ['runs:read'] })
    const second = await tokens.create({ name: 'b', scopes: ['runs:read'], principalId: first.record.principalId })
    expect((await tokens.verify(second.token))?.id).toBe(first.record.principalId)
  })

  it('bootstraps a configured admin token idempotently and revokes its previous values', async () => {
    const one = 'configured-admin-token-0001'
    const two = 'configured-admin-token-0002'
    expect(await tokens.ensureBootstrap(one, { generateIfMissing: true })).toEqual({})
    expect(await tokens.ensureBootstrap(one, { generateIfMissing: true })).toEqual({})
    expect(await tokens.verify(one)).toMatchObject({ id: 'prn_admin', scopes: ['admin'] })
    expect((await tokens.list()).filter((r) => r.name.startsWith('bootstrap')).length).toBe(1)
    await tokens.ensureBootstrap(two, { generateIfMissing: false })
    expect(await tokens.verify(two)).toMatchObject({ id: 'prn_admin', scopes: ['admin'] })
    expect(await tokens.verify(one)).toBeUndefined()
    await expect(tokens.ensureBootstrap('short', { generateIfMissing: false })).rejects.toThrow(/OPENVESPER_TOKEN must be/)
  })

  it('generates an admin token only when none is active', async () => {
    const fresh = await createEmbeddedDb()
    try {
      const svc = createTokensService({ db: fresh.db, clock: systemClock })
      expect(await svc.ensureBootstrap(undefined, { generateIfMissing: false })).toEqual({})
      const { generated } = await svc.ensureBootstrap(undefined, { generateIfMissing: true })
      expect(generated).toMatch(/^ovk_/)
      expect(await svc.verify(generated!)).toMatchObject({ id: 'prn_admin', scopes: ['admin'] })
      expect(await svc.ensureBootstrap(undefined, { generateIfMissing: true })).toEqual({})
      const [record] = await svc.list()
      await svc.revoke(record!.id)
      expect((await svc.ensureBootstrap(undefined, { generateIfMissing: true })).generated).toMatch(/^ovk_/)
    } finally {
      await fresh.close()
    }
  })
})

describe('constantTimeEqual', () => {
  it('is true only for identical strings', () => {
    expect(constantTimeEqual('ovk_abc', 'ovk_abc')).toBe(true)
    expect(constantTimeEqual('', '')).toBe(true)
    expect(constantTimeEqual('ovk_abc', 'ovk_abd')).toBe(false)
  })

  it('returns false, never throws, for different lengths and multibyte input', () => {
    expect(constantTimeEqual('short', 'a much longer secret value')).toBe(false)
    expect(constantTimeEqual('abc', 'abcd')).toBe(false)
    expect(constantTimeEqual('éééé', 'eeee')).toBe(false)
    expect(constantTimeEqual('ééé', 'abcdef')).toBe(false)
    expect(constantTimeEqual('\u0000', '')).toBe(false)
    expect(constantTimeEqual('x'.repeat(100_000), 'x')).toBe(false)
    expect(constantTimeEqual(undefined as never, 'x')).toBe(false)
  })

  it('recognises well-formed tokens only', () => {
    expect(isWellFormedToken('ovk_abc')).toBe(true)
    for (const bad of ['', ' ', 'a b', 'a\n', 'é', 'a'.repeat(513), 'a\u0000']) expect(isWellFormedToken(bad)).toBe(false)
  })
})
