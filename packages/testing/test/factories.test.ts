import { createHash } from 'node:crypto'
import { createDb, type DbHandle, rawSql } from '@openvesper/db'
import { isId } from '@openvesper/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../src/database.js'
import { createPrincipal, createRun, createSession } from '../src/factories.js'

// The token authenticates against a gateway app: apps/gateway/test/routes/tokens/factories.test.ts (this package
// may not import the gateway).
describe('data factories (Postgres)', () => {
  let database: TestDatabase
  let handle: DbHandle
  const rows = <T extends Record<string, unknown>>(text: string, params: unknown[]) => rawSql(handle.db).query<T>(text, params)

  beforeAll(async () => {
    database = await createTestDatabase()
    handle = createDb({ kind: 'postgres', url: database.url, max: 2 })
  })
  afterAll(async () => {
    await handle?.close()
    await database?.drop()
  })

  it('createPrincipal: a token row holding the SHA-256 of the returned token, its last 4 characters and the scopes', async () => {
    const { principalId, tokenId, token } = await createPrincipal(handle.db, { scopes: ['runs:read'] })
    expect(isId('principal', principalId)).toBe(true)
    expect(token).toMatch(/^ovk_[A-Za-z0-9_-]{43}$/)
    const [row] = await rows<Record<string, unknown>>('select * from api_tokens where id = $1', [tokenId])
    expect(row).toMatchObject({
      principal_id: principalId,
      token_hash: createHash('sha256').update(token).digest('hex'),
      last4: token.slice(-4),
      scopes: ['runs:read'],
      revoked_at: null,
    })
    const again = await createPrincipal(handle.db, { principalId })
    expect(again.principalId).toBe(principalId)
    expect(again.token).not.toBe(token)
  })

  it('createSession: a session of the principal under its key', async () => {
    const { principalId } = await createPrincipal(handle.db)
    const { sessionId, session } = await createSession(handle.db, { principalId, key: 'chat-1', agentId: 'writer' })
    expect(isId('session', sessionId)).toBe(true)
    const [row] = await rows('select * from sessions where id = $1', [sessionId])
    expect(row).toMatchObject({ principal_id: principalId, key: 'chat-1', agent_id: 'writer' })
    expect(session).toMatchObject({ id: sessionId, principalId, key: 'chat-1', agentId: 'writer' })
    const other = await createSession(handle.db, { principalId })
    expect(other.session.key).not.toBe('chat-1')
    expect(other.session.agentId).toBe('main')
  })

  it('createRun: a run row in the asked status, in a session when given', async () => {
    const { principalId } = await createPrincipal(handle.db)
    const { sessionId } = await createSession(handle.db, { principalId })
    const queued = await createRun(handle.db, { principalId })
    expect(isId('run', queued.runId)).toBe(true)
    expect(queued.run).toMatchObject({ status: 'queued', attempt: 0, mode: 'async', agentId: 'main', sessionId: null, startedAt: null, finishedAt: null })

    const done = await createRun(handle.db, { principalId, sessionId, status: 'completed', output: 'done', message: 'hello' })
    const [row] = await rows('select * from runs where id = $1', [done.runId])
    expect(row).toMatchObject({
      principal_id: principalId,
      session_id: sessionId,
      status: 'completed',
      output: 'done',
      input: { message: 'hello' },
      attempt: 1,
    })
    expect(row?.finished_at).toBeTruthy()

    const failed = await createRun(handle.db, { principalId, status: 'failed' })
    expect(failed.run).toMatchObject({ status: 'failed', failureReason: 'upstream_unavailable' })
    // The table's own rule still holds: one active run per session.
    await createRun(handle.db, { principalId, sessionId, status: 'running' })
    await expect(createRun(handle.db, { principalId, sessionId })).rejects.toThrow()
  })
})
