import { describe, expect, it } from 'vitest'
import { type ConfigEntry, ConfigError, ENV, loadConfig, redactConfig } from './config.js'

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

describe('the environment table', () => {
  it('fills each setting from one variable', () => {
    const paths = Object.values(ENV).map((e) => e.path)
    expect(new Set(paths).size).toBe(paths.length)
  })

  it('is typed against Config: a wrong path, kind or default does not compile', () => {
    const entries: ConfigEntry[] = [
      // @ts-expect-error a path that is not a setting of Config
      { path: 'runs.leasMs', kind: 'int', min: 1, max: 2, default: 1, description: '' },
      // @ts-expect-error a kind that does not fit the setting (a number)
      { path: 'runs.leaseMs', kind: 'bool', default: true, description: '' },
      // @ts-expect-error a setting that cannot be undefined needs a default
      { path: 'server.host', kind: 'string', description: '' },
      // @ts-expect-error an enum setting's default is one of its values
      { path: 'role', kind: 'enum', values: ['all'], default: 'everything', description: '' },
    ]
    expect(entries).toHaveLength(4)
  })
})
