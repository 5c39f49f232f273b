import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { loadConfig } from '@openvesper/config'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, SERVER_TIMEOUTS } from '../../src/app.js'
import type { Services } from '../../src/services.js'
import { bearer, buildTestApp, type TestApp } from '../support/helpers.js'
import { expectErrorBody, expectNoLeak, expectProblem, rawStatus } from '../support/http-assertions.js'
import { collectRoutes, isWriteMethod, routeKey, type RouteInfo, samplePath } from '../support/inventory.js'

const TWO_MB = 2 * 1024 * 1024
const VALID_TOKEN_BODY = { name: 'hardening', scopes: ['runs:read'] }

/** Sends a chunked body (no Content-Length) and resolves with the response status. */
function postChunked(port: number, path: string, token: string, totalBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close the connection once it has answered 413; the response event already fired then.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err)
    })
    const chunk = Buffer.alloc(64 * 1024, 'a')
    let sent = 0
    req.write('{"message":"')
    const pump = () => {
      while (sent < totalBytes) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', pump)
      }
      req.end('"}')
    }
    pump()
  })
}

describe('HTTP hardening', () => {
  let t: TestApp
  let routes: RouteInfo[]
  let writeRoutes: RouteInfo[]
  let bodyRoutes: RouteInfo[]
  let port: number
  const admin = () => bearer(t.adminToken)

  /** Rows in every table: a rejected request must not change any of them. */
  async function countRows(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {}
    for (const [table, query] of Object.entries(t.runtime.db.db.query)) {
      counts[table] = (await (query as { findMany(): Promise<unknown[]> }).findMany()).length
    }
    return counts
  }

  async function expectNoSideEffects(action: () => Promise<void>): Promise<void> {
    const before = await countRows()
    expect(before.apiTokens).toBeGreaterThan(0)
    await action()
    expect(await countRows()).toEqual(before)
  }

  beforeAll(async () => {
    t = await buildTestApp()
    routes = await collectRoutes()
    writeRoutes = routes.filter((r) => isWriteMethod(r.method))
    bodyRoutes = routes.filter((r) => r.schema.body !== undefined && r.method !== 'HEAD')
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    port = (t.app.server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await t?.close()
  })

  it('finds write routes and body routes to test, the token route among them', () => {
    expect(writeRoutes.map(routeKey)).toEqual(expect.arrayContaining(['POST /auth/tokens', 'DELETE /auth/tokens/:tokenId', 'POST /agent', 'POST /agent/async']))
    expect(bodyRoutes.map(routeKey)).toContain('POST /auth/tokens')
  })

  describe('A16 body limit with no side effects', () => {
    it('answers 413 to a 2 MB JSON body on every write route and writes no row', async () => {
      const payload = JSON.stringify({ message: 'a'.repeat(TWO_MB), name: 'x', scopes: ['admin'] })
      await expectNoSideEffects(async () => {
        for (const r of writeRoutes) {
          const res = await t.app.inject({
            method: r.method as InjectOptions['method'],
            url: samplePath(r),
            headers: { ...admin(), 'content-type': 'application/json' },
            payload,
          })
          expectErrorBody(res, 413, 'payload_too_large')
        }
      })
    })

    it('answers 413 to a chunked 2 MB body without Content-Length', async () => {
      await expectNoSideEffects(async () => {
        expect(await postChunked(port, '/auth/tokens', t.adminToken, TWO_MB)).toBe(413)
        expect(await postChunked(port, '/agent/async', t.adminToken, TWO_MB)).toBe(413)
      })
    })

    it('rejects a body over the byte limit that is under it in characters', async () => {
      const limit = loadConfig({}).server.bodyLimit
      const text = 'é'.repeat(Math.ceil(limit / 2) + 16)
      expect(text.length).toBeLessThan(limit)
      await expectNoSideEffects(async () => {
        for (const r of writeRoutes) {
          const payload = JSON.stringify({ name: text, scopes: ['runs:read'], message: text })
          expect(Buffer.byteLength(payload)).toBeGreaterThan(limit)
          const res = await t.app.inject({
            method: r.method as InjectOptions['method'],
            url: samplePath(r),
            headers: { ...admin(), 'content-type': 'application/json' },
            payload,
          })
          expectErrorBody(res, 413, 'payload_too_large')
        }
      })
    })

    it('does not inflate compressed bodies: a gzip bomb is rejected as it is', async () => {
      const body = gzipSync(JSON.stringify({ ...VALID_TOKEN_BODY, pad: 'a'.repeat(TWO_MB) }))
      expect(body.length).toBeLessThan(1024 * 1024)
      await expectNoSideEffects(async () => {
        const res = await t.app.inject({
          method: 'POST',
          url: '/auth/tokens',
          headers: { ...admin(), 'content-type': 'application/json', 'content-encoding': 'gzip' },
          payload: body,
        })
        expect([400, 413, 415]).toContain(res.statusCode)
        expectProblem(res, res.statusCode)
      })
    })

    it('answers 400 when Content-Length is smaller than the body', async () => {
      const body = JSON.stringify(VALID_TOKEN_BODY)
      await expectNoSideEffects(async () => {
        const status = await rawStatus(
          port,
          `POST /auth/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminToken}\r\nContent-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n${body}`,
        )
        expect(status).toBe(400)
      })
    })
  })

  describe('A17 content type cannot bypass validation', () => {
    const variants: [string, Record<string, string | string[]>][] = [
      ['tab and junk', { 'content-type': 'application/json\tx' }],
      ['leading space', { 'content-type': ' application/json' }],
      ['upper case', { 'content-type': 'APPLICATION/JSON' }],
      ['utf-16 charset', { 'content-type': 'application/json;charset=utf-16' }],
      ['list of types', { 'content-type': 'application/json, text/plain' }],
      ['duplicated', { 'content-type': ['application/json', 'text/plain'] }],
      ['missing', {}],
      ['text/plain', { 'content-type': 'text/plain' }],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ]

    it('rejects a schema-violating body with 400/415 under every content-type variant on every body route', async () => {
      await expectNoSideEffects(async () => {
        for (const r of bodyRoutes) {
          for (const [name, headers] of variants) {
            const res = await t.app.inject({
              method: r.method as InjectOptions['method'],
              url: samplePath(r),
              headers: { ...admin(), ...(headers as Record<string, string>) },
              payload: JSON.stringify({ unexpectedField: 1, ownerId: 'prn_other', status: 'completed' }),
            })
            expect([400, 415], `${routeKey(r)} with ${name}: ${res.statusCode} ${res.body.slice(0, 200)}`).toContain(res.statusCode)
            expectErrorBody(res, res.statusCode)
          }
        }
      })
    })

    it('does not treat a valid JSON body sent as another media type as JSON', async () => {
      const nonJson = variants.filter(([name]) => ['list of types', 'missing', 'text/plain', 'multipart', 'form', 'tab and junk'].includes(name))
      await expectNoSideEffects(async () => {
        for (const [name, headers] of nonJson) {
          const res = await t.app.inject({
            method: 'POST',
            url: '/auth/tokens',
            headers: { ...admin(), ...(headers as Record<string, string>) },
            payload: JSON.stringify(VALID_TOKEN_BODY),
          })
          expect([400, 415], `${name}: ${res.statusCode}`).toContain(res.statusCode)
        }
      })
    })

    it('answers 415 unsupported_media_type for bodies that are not JSON at all', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { ...admin(), 'content-type': 'application/xml' }, payload: '<a/>' })
      expectProblem(res, 415, 'unsupported_media_type')
    })

    it('answers 400 invalid_request with field paths for invalid JSON, empty bodies and schema violations', async () => {
      const send = (payload: string, contentType = 'application/json') =>
        t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { ...admin(), 'content-type': contentType }, payload })
      expectProblem(await send('{"name": '), 400, 'invalid_request')
      expectProblem(await send(''), 400, 'invalid_request')
      const missing = expectProblem(await send('{"name":"x"}'), 400, 'invalid_request')
      expect(missing.errors).toEqual([{ path: 'body.scopes', message: 'is required' }])
      const badScope = expectProblem(await send('{"name":"x","scopes":["root"]}'), 400, 'invalid_request')
      expect(badScope.errors[0].path).toBe('body.scopes.0')
    })
  })

  describe('A18 prototype pollution and mass assignment', () => {
    const pollution = ['{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"a":{"b":{"__proto__":{"polluted":true}}}}']

    it('rejects __proto__ and constructor.prototype payloads on every body route and pollutes nothing', async () => {
      await expectNoSideEffects(async () => {
        for (const r of bodyRoutes) {
          for (const payload of pollution) {
            const res = await t.app.inject({
              method: r.method as InjectOptions['method'],
              url: samplePath(r),
              headers: { ...admin(), 'content-type': 'application/json' },
              payload,
            })
            expectErrorBody(res, 400, 'invalid_request')
          }
        }
        const base = JSON.stringify(VALID_TOKEN_BODY).slice(0, -1)
        for (const extra of ['"__proto__":{"polluted":true}', '"constructor":{"prototype":{"polluted":true}}', '"nested":{"__proto__":{"polluted":true}}']) {
          const res = await t.app.inject({
            method: 'POST',
            url: '/auth/tokens',
            headers: { ...admin(), 'content-type': 'application/json' },
            payload: `${base},${extra}}`,
          })
          expectProblem(res, 400, 'invalid_request')
        }
      })
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
    })

    it('rejects unknown and server-owned properties at top level and nested', async () => {
      const serverOwned = {
        ownerId: 'prn_other',
        status: 'completed',
        approved: true,
        createdAt: '2000-01-01T00:00:00Z',
        revokedAt: null,
        id: 'tok_chosen000000',
        tokenHash: '00',
        last4: 'abcd',
      }
      await expectNoSideEffects(async () => {
        for (const [field, value] of Object.entries(serverOwned)) {
          const res = await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: admin(), payload: { ...VALID_TOKEN_BODY, [field]: value } })
          const problem = expectProblem(res, 400, 'invalid_request')
          expect(problem.errors).toEqual([{ path: `body.${field}`, message: 'unknown property' }])
        }
        const nested = await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: admin(), payload: { ...VALID_TOKEN_BODY, meta: { approved: true } } })
        expectProblem(nested, 400, 'invalid_request')
        for (const r of bodyRoutes) {
          const res = await t.app.inject({
            method: r.method as InjectOptions['method'],
            url: samplePath(r),
            headers: admin(),
            payload: { ...serverOwned, scopes: ['admin'] },
          })
          expectErrorBody(res, 400, 'invalid_request')
        }
      })
    })
  })

  describe('A20 error hygiene', () => {
    let logged: { app: FastifyInstance; lines: string[] }

    beforeAll(async () => {
      const lines: string[] = []
      const failing: Services = {
        ...t.services,
        tokens: {
          ...t.services.tokens,
          verify: (token) => t.services.tokens.verify(token),
          list: async () => {
            throw new Error(`relation "api_tokens" failed: SELECT token_hash FROM api_tokens WHERE x = '${t.adminToken}' at /work/main/db.ts:12`)
          },
        },
      }
      const app = await buildApp({ config: loadConfig({}), services: failing, log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }) })
      await app.ready()
      logged = { app, lines }
    })
    afterAll(async () => {
      await logged?.app.close()
    })

    it('answers 500 internal with only a generic message and the request id, and logs the original with its stack', async () => {
      const res = await logged.app.inject({ method: 'GET', url: '/auth/tokens', headers: admin() })
      const problem = expectProblem(res, 500, 'internal')
      expect(problem.detail).toMatch(/request id/)
      expect(res.body).not.toContain(t.adminToken)
      expect(res.body).not.toMatch(/api_tokens|SELECT|relation/)
      const errorLine = logged.lines.map((l) => JSON.parse(l)).find((l) => l.level === 50 && l.reqId === problem.requestId)
      expect(errorLine?.err?.stack).toMatch(/relation "api_tokens" failed/)
    })

    it('puts the request id in every error body and the x-request-id header', async () => {
      const responses = await Promise.all([
        t.app.inject({ method: 'GET', url: '/auth/tokens' }),
        t.app.inject({ method: 'GET', url: '/nope', headers: admin() }),
        t.app.inject({ method: 'POST', url: '/auth/tokens', headers: admin(), payload: {} }),
        t.app.inject({ method: 'DELETE', url: `/auth/tokens/${'x'.repeat(300)}`, headers: admin() }),
        t.app.inject({ method: 'GET', url: '/%E0%A4%A', headers: admin() }),
      ])
      for (const res of responses) {
        expect(res.statusCode).toBeGreaterThanOrEqual(400)
        expectProblem(res, res.statusCode)
      }
      expect(new Set(responses.map((r) => r.headers['x-request-id'])).size).toBe(responses.length)
    })

    it('keeps a well-formed client request id and replaces an unsafe one', async () => {
      const kept = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'edge-1234abcd' } })
      expect(kept.headers['x-request-id']).toBe('edge-1234abcd')
      for (const unsafe of ['short', 'has space inside', '<script>alert(1)</script>', `x${'a'.repeat(200)}`, 'a"b\\c{}']) {
        const res = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': unsafe } })
        expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
        expect(res.body).not.toContain(unsafe)
        expectNoLeak(res.body)
      }
    })
  })

  describe('A19 server timeouts', () => {
    it('extends the socket idle timeout only for routes that declare socketIdleTimeoutMs, after authentication', async () => {
      const app = await buildApp({ config: loadConfig({}), services: t.services, log: pino({ level: 'silent' }) })
      const probe = { schema: { hide: true }, handler: async (request: { raw: { socket: { timeout?: number } } }) => ({ timeout: request.raw.socket.timeout }) }
      app.get('/probe/long', { ...probe, config: { auth: { scopes: [] }, socketIdleTimeoutMs: 120_000 } })
      app.get('/probe/default', { ...probe, config: { auth: { scopes: [] } } })
      const base = await app.listen({ host: '127.0.0.1', port: 0 })
      try {
        const get = async (path: string, headers: Record<string, string> = admin()) => {
          const res = await fetch(`${base}${path}`, { headers })
          return { status: res.status, body: (await res.json()) as { timeout?: number } }
        }
        expect(await get('/probe/long')).toEqual({ status: 200, body: { timeout: 120_000 } })
        expect(await get('/probe/default')).toEqual({ status: 200, body: { timeout: SERVER_TIMEOUTS.connectionTimeoutMs } })
        expect((await get('/probe/long', {})).status).toBe(401)
      } finally {
        await app.close()
      }
    })

    it('sets non-zero timeouts of at most 30 s on the HTTP server', () => {
      const server = t.app.server
      expect(server.requestTimeout).toBe(SERVER_TIMEOUTS.requestTimeoutMs)
      expect(server.headersTimeout).toBe(SERVER_TIMEOUTS.headersTimeoutMs)
      expect(server.keepAliveTimeout).toBe(SERVER_TIMEOUTS.keepAliveTimeoutMs)
      expect(server.timeout).toBe(SERVER_TIMEOUTS.connectionTimeoutMs)
      for (const value of [server.requestTimeout, server.headersTimeout, server.keepAliveTimeout, server.timeout]) {
        expect(value).toBeGreaterThan(0)
        expect(value).toBeLessThanOrEqual(30_000)
      }
    })
  })
})
