import { monitorEventLoopDelay } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JSON_LIMITS } from '../../src/http/json-body.js'
import { bearer, buildTestApp, type TestApp } from '../support/helpers.js'
import { hostileBodies } from '@openvesper/testing'

/**
 * Request parsing cost is bounded (issue 15, A16/A18): a body within the size limit, of any shape (deep nesting,
 * huge arrays, many keys, keys named like prototype properties), blocks the event loop for at most a few tens of
 * milliseconds, is refused or accepted without a 500, and a stream of them leaves GET /health responsive.
 */

const BODY_LIMIT = 1_048_576
/** The longest one body may block the event loop: "a few tens of milliseconds" on a loaded CI machine. */
const MAX_BLOCK_MS = 60

describe('request parsing cost (embedded mode: parsing is the same code in both modes)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ mode: 'embedded' })
    await t.app.listen({ host: '127.0.0.1', port: 0 })
  })
  afterAll(async () => {
    await t?.close()
  })

  const ROUTES = ['/agent/async', '/auth/tokens']

  /** The longest event-loop block while `payload` is posted to `route`: the least of three tries (other load only adds). */
  async function blockMs(route: string, payload: string): Promise<{ ms: number; status: number; body: string }> {
    let best = { ms: Number.POSITIVE_INFINITY, status: 0, body: '' }
    for (let i = 0; i < 3; i++) {
      const h = monitorEventLoopDelay({ resolution: 5 })
      h.enable()
      const res = await t.app.inject({ method: 'POST', url: route, headers: { ...bearer(t.adminToken), 'content-type': 'application/json' }, payload })
      await new Promise((r) => setTimeout(r, 10))
      h.disable()
      const ms = h.max / 1e6
      if (ms < best.ms) best = { ms, status: res.statusCode, body: res.body }
    }
    return best
  }

  it('answers every hostile body just under the size limit with a 4xx (never a 5xx), each blocking the loop for at most a few tens of ms', async () => {
    const bodies = hostileBodies(BODY_LIMIT - 64)
    expect(bodies.length).toBeGreaterThanOrEqual(8)
    for (const route of ROUTES) {
      // Warm-up: the route's validators compile on first use, which is not a body's cost.
      await t.app.inject({ method: 'POST', url: route, headers: { ...bearer(t.adminToken), 'content-type': 'application/json' }, payload: '{}' })
      await blockMs(route, bodies[0]!.body)
      for (const { name, body } of bodies) {
        expect(Buffer.byteLength(body), name).toBeLessThanOrEqual(BODY_LIMIT)
        const { ms, status, body: answer } = await blockMs(route, body)
        expect(status, `${route} ${name}: ${answer.slice(0, 200)}`).toBeGreaterThanOrEqual(400)
        expect(status, `${route} ${name}`).toBeLessThan(500)
        expect(ms, `${route} ${name}: event loop blocked ${ms} ms`).toBeLessThan(MAX_BLOCK_MS)
      }
    }
    // Nothing was polluted along the way.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
  })

  it('refuses nesting, value and member counts past JSON_LIMITS before parsing, and accepts a body at them', async () => {
    const send = (payload: string) =>
      t.app.inject({ method: 'POST', url: '/agent/async', headers: { ...bearer(t.adminToken), 'content-type': 'application/json' }, payload })
    const deep = await send(`{"message":"x","metadata":${'['.repeat(JSON_LIMITS.maxDepth)}${']'.repeat(JSON_LIMITS.maxDepth)}}`)
    expect(deep.json()).toMatchObject({ code: 'invalid_request', detail: `JSON nested deeper than ${JSON_LIMITS.maxDepth} levels` })
    const many = await send(`{"message":"x","metadata":[${Array(JSON_LIMITS.maxValues).fill('0').join(',')}]}`)
    expect(many.json()).toMatchObject({ code: 'invalid_request', detail: `JSON with more than ${JSON_LIMITS.maxValues} values` })
    const keys = await send(`{"message":"x","metadata":{${Array.from({ length: JSON_LIMITS.maxKeys + 1 }, (_, i) => `"k${i}":0`).join(',')}}}`)
    expect(keys.json()).toMatchObject({ code: 'invalid_request', detail: `JSON object with more than ${JSON_LIMITS.maxKeys} members` })
    // Brackets, commas and colons inside strings are text, not structure.
    const text = await send(JSON.stringify({ message: `${'[{,:'.repeat(30_000)}\\"` }))
    expect(text.statusCode, text.body).toBe(202)
  })
  // /health's latency while such bodies arrive is a bench figure (`pnpm bench --only=parse`), not a timed test.
})
