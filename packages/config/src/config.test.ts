import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, redactConfig } from './config.js'

describe('loadConfig', () => {
  it('applies safe defaults with an empty environment', () => {
    const c = loadConfig({})
    expect(c.server.host).toBe('127.0.0.1')
    expect(c.server.port).toBe(18789)
    expect(c.role).toBe('all')
    expect(c.database.url).toBeUndefined()
    expect(Object.isFrozen(c.server)).toBe(true)
  })

  it('lists every problem at once and never echoes a secret', () => {
    try {
      loadConfig({ OPENVESPER_PORT: 'x', OPENVESPER_DB_MIGRATE: 'yes', DATABASE_URL: 'not a url sekret', OPENVESPER_ROLE: 'boss' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      const problems = (err as ConfigError).problems
      expect(problems).toHaveLength(4)
      expect((err as Error).message).not.toContain('sekret')
    }
  })

  it('refuses a worker role without Redis and Postgres', () => {
    expect(() => loadConfig({ OPENVESPER_ROLE: 'worker' })).toThrow(/REDIS_URL/)
  })

  it('redacts secrets and URL passwords', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x', OPENAI_API_KEY: 'sk-canary', OPENVESPER_TOKEN: 'tok-canary' })
    const text = JSON.stringify(redactConfig(c))
    expect(text).not.toContain('hunter2')
    expect(text).not.toContain('sk-canary')
    expect(text).not.toContain('tok-canary')
  })
})
