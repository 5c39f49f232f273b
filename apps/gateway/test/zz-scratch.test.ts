import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, type TestApp } from './helpers.js'

describe('scratch', () => {
  let t: TestApp
  beforeAll(async () => { t = await buildTestApp() })
  afterAll(async () => { await t?.close() })
  it('works', async () => {
    const show = (r: any) => console.log(r.statusCode, JSON.stringify(r.headers), r.body.slice(0, 400))
    show(await t.app.inject({ method: 'GET', url: '/health' }))
    show(await t.app.inject({ method: 'HEAD', url: '/health' }))
    show(await t.app.inject({ method: 'GET', url: '/nope' }))
    show(await t.app.inject({ method: 'GET', url: '/nope', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: bearer(t.adminToken), payload: { name: 'x', scopes: ['runs:read'], extra: 1 } }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: bearer(t.adminToken), payload: { name: 'x', scopes: ['runs:read'] } }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { ...bearer(t.adminToken), 'content-type': 'application/json' }, payload: '{"name":"x","scopes":["admin"],"__proto__":{"a":1}}' }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { ...bearer(t.adminToken), 'content-type': 'text/plain' }, payload: '{"name":"x","scopes":["admin"]}' }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { ...bearer(t.adminToken), 'content-type': 'application/json' }, payload: 'x'.repeat(2_000_000) }))
    show(await t.app.inject({ method: 'POST', url: '/auth/tokens', headers: { authorization: [`Bearer ${t.adminToken}`, 'Bearer x'] as any }, payload: {name:'x', scopes:['admin']} }))
    show(await t.app.inject({ method: 'GET', url: '/ws', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'GET', url: '/docs', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'GET', url: '/docs/json' }))
    show(await t.app.inject({ method: 'GET', url: '/docs/static/index.css', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'GET', url: '/auth/tokens?token=' + t.adminToken }))
    show(await t.app.inject({ method: 'DELETE', url: '/auth/tokens/tok_12345678', headers: bearer(t.adminToken) }))
    show(await t.app.inject({ method: 'DELETE', url: '/auth/tokens/' + 'x'.repeat(200), headers: bearer(t.adminToken) }))
  })
})
