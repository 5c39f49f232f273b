import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig, normalizeOrigin } from '@openvesper/config'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp } from '../support/helpers.js'
import { expectProblem, rawStatus } from '../support/http-assertions.js'
import { upgradeStatus } from '../support/ws-client.js'

const ALLOWED = 'https://allowed.example'
const ALLOWED_DEV = 'http://localhost:3000'

/** Status and content type of an SSE request over a real connection, without reading the stream. */
function sseStatus(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] })
      res.destroy()
    })
    req.on('error', reject)
    req.end()
  })
}

describe('OPENVESPER_ALLOWED_ORIGINS', () => {
  it('normalises origins and rejects anything that is not a bare http(s) origin', () => {
    const config = loadConfig({ OPENVESPER_ALLOWED_ORIGINS: 'HTTPS://Allowed.Example:443, http://localhost:3000,https://allowed.example' })
    expect(config.server.allowedOrigins).toEqual(['https://allowed.example', 'http://localhost:3000'])
    expect(loadConfig({}).server.allowedOrigins).toEqual([])
    for (const bad of [
      '*',
      'null',
      'allowed.example',
      'https://allowed.example/',
      'https://allowed.example/app',
      'https://u@allowed.example',
      'ftp://allowed.example',
      'https://a.example,',
    ])
      expect(() => loadConfig({ OPENVESPER_ALLOWED_ORIGINS: bad }), bad).toThrow(/OPENVESPER_ALLOWED_ORIGINS/)
  })

  it('compares origins exactly after normalisation', () => {
    expect(normalizeOrigin('HTTP://LOCALHOST:80')).toBe('http://localhost')
    expect(normalizeOrigin('https://allowed.example:443')).toBe('https://allowed.example')
    expect(normalizeOrigin('https://allowed.example:8443')).toBe('https://allowed.example:8443')
    for (const bad of [
      'null',
      '',
      'https://allowed.example@evil.test',
      'https://allowed.example/',
      'https://allowed.example?x',
      'ws://allowed.example',
      'https://allowed.example, https://evil.test',
    ])
      expect(normalizeOrigin(bad), bad).toBeUndefined()
  })
})

describe.each(MODES)('origin allowlist on WebSocket and SSE, A09 (%s mode)', (mode) => {
  let t: TestApp
  let port: number
  let wsUrl: string
  let runId: string

  beforeAll(async () => {
    t = await buildTestApp({ mode, env: { OPENVESPER_ALLOWED_ORIGINS: `${ALLOWED},${ALLOWED_DEV}` } })
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    port = (t.app.server.address() as AddressInfo).port
    wsUrl = `ws://127.0.0.1:${port}/ws`
    const created = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'origin' } })
    runId = created.json().runId
    const waited = await t.app.inject({ method: 'POST', url: `/agent/run/${runId}/wait`, headers: bearer(t.adminToken), payload: { timeoutMs: 20_000 } })
    expect(waited.json().status).toBe('completed')
  })
  afterAll(async () => {
    await t?.close()
  })

  /** The checklist's matrix: [Origin, accepted?]. The gateway listens on http://127.0.0.1:<port>. */
  const matrix = (): [string, boolean][] => {
    const other = port === 65535 ? port - 1 : port + 1
    return [
      [ALLOWED, true],
      ['https://ALLOWED.example', true],
      ['https://allowed.example:443', true],
      [ALLOWED_DEV, true],
      [`http://127.0.0.1:${port}`, true],
      [`HTTP://127.0.0.1:${port}`, true],
      ['null', false],
      [`http://localhost:${other}`, false],
      [`http://127.0.0.1:${other}`, false],
      [`http://localhost:${port}`, false],
      [`https://127.0.0.1:${port}`, false],
      ['https://allowed.example.evil.test', false],
      ['https://evilallowed.example', false],
      ['https://allowed.example@evil.test', false],
      ['http://allowed.example', false],
      ['https://allowed.example:8443', false],
      ['wss://allowed.example', false],
      ['https://allowed.example/', false],
      ['https://allowed.example/path', false],
      [`${ALLOWED}, https://evil.test`, false],
    ]
  }

  it('lets only exact allowlisted origins and the same origin upgrade; all others get 403 before the handshake', async () => {
    for (const [origin, accepted] of matrix()) {
      const withHeader = await upgradeStatus(wsUrl, { origin, headers: bearer(t.adminToken) })
      expect(withHeader, `Origin ${JSON.stringify(origin)} with Authorization`).toBe(accepted ? 101 : 403)
      const withQuery = await upgradeStatus(`${wsUrl}?token=${encodeURIComponent(t.adminToken)}`, { origin })
      expect(withQuery, `Origin ${JSON.stringify(origin)} with ?token=`).toBe(accepted ? 101 : 403)
    }
  })

  it('still requires a token: with an allowed origin, and without any Origin (non-browser clients)', async () => {
    expect(await upgradeStatus(wsUrl, { origin: ALLOWED })).toBe(401)
    expect(await upgradeStatus(wsUrl, { origin: ALLOWED, headers: bearer('ovk_wrong') })).toBe(401)
    expect(await upgradeStatus(wsUrl)).toBe(401)
    expect(await upgradeStatus(wsUrl, { headers: bearer(t.adminToken) })).toBe(101)
    // A refused origin is refused whatever the credential.
    expect(await upgradeStatus(wsUrl, { origin: 'https://evil.test' })).toBe(403)
  })

  it('refuses duplicated and empty Origin headers', async () => {
    const upgrade = (origins: string[]) =>
      [
        `GET /ws?token=${encodeURIComponent(t.adminToken)} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ...origins.map((o) => `Origin: ${o}`),
        '',
        '',
      ].join('\r\n')
    expect(await rawStatus(port, upgrade([ALLOWED]))).toBe(101)
    expect(await rawStatus(port, upgrade([ALLOWED, ALLOWED]))).toBe(403)
    expect(await rawStatus(port, upgrade(['https://evil.test', ALLOWED]))).toBe(403)
    expect(await rawStatus(port, upgrade(['']))).toBe(403)
  })

  it('applies the same matrix to SSE streams over a real connection', async () => {
    const path = `/agent/run/${runId}/events`
    for (const [origin, accepted] of matrix()) {
      const res = await sseStatus(port, path, { origin, ...bearer(t.adminToken) })
      expect(res.status, `Origin ${JSON.stringify(origin)}`).toBe(accepted ? 200 : 403)
      if (accepted) expect(res.type).toMatch(/^text\/event-stream/)
      const viaQuery = await sseStatus(port, `${path}?token=${encodeURIComponent(t.adminToken)}`, { origin })
      expect(viaQuery.status, `Origin ${JSON.stringify(origin)} with ?token=`).toBe(accepted ? 200 : 403)
    }
    expect((await sseStatus(port, path, { origin: '', ...bearer(t.adminToken) })).status).toBe(403)
    expect((await sseStatus(port, path, bearer(t.adminToken))).status).toBe(200)
    expect((await sseStatus(port, path, { origin: ALLOWED })).status).toBe(401)
  })

  it('refuses a cross-origin POST /agent/stream before any run is created', async () => {
    const countRuns = async () => (await t.runtime.db.db.query.runs.findMany()).length
    const before = await countRuns()
    const stream = (origin: string): InjectOptions => ({
      method: 'POST',
      url: '/agent/stream',
      headers: { ...bearer(t.adminToken), origin, host: `127.0.0.1:${port}` },
      payload: { message: 'cross-site' },
    })
    const refused = await t.app.inject(stream('https://evil.test'))
    expectProblem(refused, 403, 'forbidden')
    expect(refused.headers['content-type']).not.toMatch(/event-stream/)
    expect(refused.headers['x-run-id']).toBeUndefined()
    expect(await countRuns()).toBe(before)
    const allowed = await t.app.inject(stream(ALLOWED))
    expect(allowed.statusCode).toBe(200)
    expect(allowed.headers['x-run-id']).toMatch(/^run_/)
  })

  it('leaves Origin alone on routes that are not streams (bearer tokens are not ambient credentials)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/auth/tokens', headers: { ...bearer(t.adminToken), origin: 'https://evil.test' } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })
})
