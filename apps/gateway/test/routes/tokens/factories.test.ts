import { createPrincipal, createRun } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, MODES, type TestApp } from '../../support/helpers.js'

// packages/testing's factories write rows as the owning packages do; here, that the gateway reads them as its own.
describe.each(MODES)('a principal from the test factories (%s mode)', (mode) => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ mode })
  })
  afterAll(async () => t?.close())

  it('authenticates with its token, holds exactly its scopes and sees its own runs only', async () => {
    const { principalId, token } = await createPrincipal(t.runtime.db.db, { scopes: ['runs:read'] })
    t.leaks.secret(token)
    const { runId } = await createRun(t.runtime.db.db, { principalId, status: 'completed', output: 'from the factory' })
    const own = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: bearer(token) })
    expect(own.statusCode, own.body).toBe(200)
    expect(own.json()).toMatchObject({ runId, status: 'completed', output: 'from the factory' })

    const write = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(token), payload: { message: 'no' } })
    expect(write.statusCode).toBe(403)
    const { runId: others } = await createRun(t.runtime.db.db, { principalId: 'prn_admin', status: 'completed' })
    expect((await t.app.inject({ method: 'GET', url: `/agent/run/${others}`, headers: bearer(token) })).statusCode).toBe(404)
  })

  it('is listed and revoked through /auth/tokens like any other token', async () => {
    const { principalId, tokenId, token } = await createPrincipal(t.runtime.db.db, { scopes: ['runs:read'] })
    t.leaks.secret(token)
    const { items } = (await t.app.inject({ method: 'GET', url: '/auth/tokens', headers: bearer(t.adminToken) })).json()
    expect(items).toContainEqual(expect.objectContaining({ id: tokenId, principalId, scopes: ['runs:read'], last4: token.slice(-4) }))

    const revoked = await t.app.inject({ method: 'DELETE', url: `/auth/tokens/${tokenId}`, headers: bearer(t.adminToken) })
    expect(revoked.statusCode).toBe(204)
    const { runId } = await createRun(t.runtime.db.db, { principalId, status: 'completed' })
    expect((await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: bearer(token) })).statusCode).toBe(401)
  })
})
