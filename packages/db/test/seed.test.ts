import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDb, migrate, seedDataDir } from '../src/index.js'

describe('seedDataDir (embedded first start from a migrated template)', () => {
  let root: string
  let template: string

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ov-seed-'))
    template = join(root, 'template')
    const handle = createDb({ kind: 'pglite', dataDir: template })
    await migrate(handle)
    await handle.close()
  }, 120_000)
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('copies the template into a missing folder, which then opens as a migrated database', async () => {
    const dir = join(root, 'fresh')
    expect(await seedDataDir(dir, template)).toBe(true)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true)
    // Nothing is left beside it.
    expect(readdirSync(root).filter((name) => name.startsWith('fresh.seed-'))).toEqual([])
    const handle = createDb({ kind: 'pglite', dataDir: dir })
    try {
      const { rows } = await (handle.driver as { kind: 'pglite'; pglite: { query(sql: string): Promise<{ rows: unknown[] }> } }).pglite.query(
        `select count(*)::int as n from information_schema.tables where table_name in ('runs', 'run_events', 'api_tokens', 'sessions')`,
      )
      expect(rows).toEqual([{ n: 4 }])
    } finally {
      await handle.close()
    }
  }, 60_000)

  it('seeds an existing empty folder', async () => {
    const dir = join(root, 'empty')
    mkdirSync(dir)
    expect(await seedDataDir(dir, template)).toBe(true)
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true)
  })

  it('leaves a folder alone that holds a database or anything else, and in-memory or template-less starts', async () => {
    const existing = join(root, 'fresh') // seeded above
    expect(await seedDataDir(existing, template)).toBe(false)
    const other = join(root, 'other')
    mkdirSync(other)
    writeFileSync(join(other, 'notes.txt'), 'mine')
    expect(await seedDataDir(other, template)).toBe(false)
    expect(readdirSync(other)).toEqual(['notes.txt'])
    expect(await seedDataDir('memory://', template)).toBe(false)
    expect(await seedDataDir(join(root, 'nowhere'), join(root, 'no-template'))).toBe(false)
    expect(existsSync(join(root, 'nowhere'))).toBe(false)
    expect(readdirSync(root).filter((name) => name.includes('.seed-'))).toEqual([])
  })
})
