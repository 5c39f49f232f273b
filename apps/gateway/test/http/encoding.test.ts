import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp } from '../support/helpers.js'

/** A24: strings that break naive SQL, JSON, templates or Postgres text/jsonb. */
const CORPUS = [
  "'; DROP TABLE sessions;--",
  "' OR '1'='1",
  'back\\slash and $1 and $$',
  '"}]',
  '<script>alert(1)</script><img src=x onerror=alert(1)>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent as a literal string
  '{{7*7}} ${7*7}',
  'nul\u0000byte',
  'lone \ud800 surrogate',
  'rtl \u202e override',
  'zero\u200bwidth\u200djoiner',
  '🧪'.repeat(2000),
]

describe.each(MODES)('string fields round-trip or are refused cleanly (%s mode)', (mode) => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ mode, env: { OPENVESPER_MODEL: 'echo' } })
  })
  afterAll(async () => t?.close())

  for (const [i, value] of CORPUS.entries()) {
    it(`message #${i} (${JSON.stringify(value.slice(0, 24))})`, async () => {
      const res = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(t.adminToken), payload: { message: value, sessionKey: `enc-${i}` } })
      expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500)
      if (value.includes('\u0000') || !value.isWellFormed()) {
        // Documented rule: NUL and unpaired surrogates cannot be stored, so the request is refused, nothing written.
        expect(res.statusCode).toBe(400)
        expect(res.json()).toMatchObject({ code: 'invalid_request', errors: [expect.objectContaining({ path: 'body.message' })] })
        return
      }
      expect(res.statusCode).toBe(200)
      const run = res.json()
      expect(run.status).toBe('completed')
      // The echo model answers `Echo: <message>`: the text went through Postgres and back unchanged.
      expect(run.output).toBe(`Echo: ${value}`)
      const stored = await t.app.inject({ method: 'GET', url: `/agent/run/${run.runId}`, headers: bearer(t.adminToken) })
      expect(stored.json().output).toBe(run.output)
    })
  }

  it('token names: a lone surrogate is refused rather than silently altered', async () => {
    for (const name of ['x\ud800y', 'nul\u0000']) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: bearer(t.adminToken), payload: { name, scopes: ['runs:read'] } })
      expect(res.statusCode).toBe(400)
    }
    const ok = await t.app.inject({
      method: 'POST',
      url: '/auth/tokens',
      headers: bearer(t.adminToken),
      payload: { name: 'emoji 🧪 ok', scopes: ['runs:read'] },
    })
    expect(ok.json().name).toBe('emoji 🧪 ok')
  })
})
