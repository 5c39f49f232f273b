import { type AuditEntry, systemClock } from '@openvesper/shared'
import { createEmbeddedDb } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokensService, type RevocationBus, TOKEN_REVOCATIONS_CHANNEL, type TokensService } from '../src/index.js'

/** A bus within this process: what the tokens service publishes is delivered to its subscribers. */
function localBus(): RevocationBus & { published: string[] } {
  const listeners = new Map<string, Set<(message: string) => void>>()
  const published: string[] = []
  return {
    published,
    async publish(channel, message) {
      published.push(`${channel} ${message}`)
      for (const listener of listeners.get(channel) ?? []) listener(message)
    },
    async subscribe(channel, onMessage) {
      const set = listeners.get(channel) ?? new Set()
      listeners.set(channel, set)
      set.add(onMessage)
      return async () => void set.delete(onMessage)
    },
  }
}

describe('tokens service (packages/access)', () => {
  let db: Awaited<ReturnType<typeof createEmbeddedDb>>
  let tokens: TokensService
  const entries: AuditEntry[] = []
  const bus = localBus()

  beforeAll(async () => {
    db = await createEmbeddedDb()
    tokens = createTokensService({ db: db.db, clock: systemClock, cacheMs: 60_000, bus, audit: { record: async (e) => void entries.push(e) } })
    await tokens.start()
  })
  afterAll(async () => {
    await tokens?.stop()
    await db?.close()
  })

  it('records token creation and revocation in the audit sink, never the secret', async () => {
    const { token, record } = await tokens.create({ name: 'audited', scopes: ['runs:read'] })
    expect(await tokens.revoke(record.id)).toBe(true)
    const mine = entries.filter((e) => e.target === record.id)
    expect(mine.map((e) => [e.action, e.outcome])).toEqual([
      ['token.create', 'success'],
      ['token.revoke', 'success'],
    ])
    for (const entry of mine) {
      expect(entry.at).toBeInstanceOf(Date)
      expect(JSON.stringify(entry)).not.toContain(token)
    }
    // A second revocation keeps the first one and records nothing new.
    expect(await tokens.revoke(record.id)).toBe(true)
    expect(entries.filter((e) => e.target === record.id)).toHaveLength(2)
  })

  it('announces revocations on the bus, and a revoked cached token stops verifying', async () => {
    const { token, record } = await tokens.create({ name: 'cached', scopes: ['runs:read'] })
    expect((await tokens.verify(token))?.tokenId).toBe(record.id)
    await tokens.revoke(record.id)
    expect(bus.published).toContain(`${TOKEN_REVOCATIONS_CHANNEL} ${record.id}`)
    expect(await tokens.verify(token)).toBeUndefined()
  })

  it('a failing audit sink does not fail token creation', async () => {
    const failing = createTokensService({ db: db.db, clock: systemClock, audit: { record: async () => Promise.reject(new Error('sink down')) } })
    const { record } = await failing.create({ name: 'unaudited', scopes: [] })
    expect(await failing.isActive(record.id)).toBe(true)
  })
})
