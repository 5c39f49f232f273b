import { randomBytes } from 'node:crypto'
import { createDb, migrate, type DbHandle } from '@openvesper/db'
import postgres from 'postgres'
import { databaseUrl, templateDbName, TEST_PG_ADMIN_URL } from './env.js'

/** Test database names carry their creation time, so leftovers of killed runs can be told apart from live ones. */
const stamp = () => Date.now().toString(36)
const STALE_MS = 3 * 60 * 60 * 1000

/** Called once by the vitest globalSetup: a migrated template every test file clones. Returns its name. */
export async function prepareTemplateDatabase(): Promise<string> {
  const TEMPLATE_DB = `ov_tpl_${stamp()}_${randomBytes(3).toString('hex')}`
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    await admin`select 1`.catch((err: Error) => {
      throw new Error(
        `PostgreSQL is not reachable at ${new URL(TEST_PG_ADMIN_URL).host}: ${err.message}. Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
      )
    })
    await admin.unsafe(`create database ${TEMPLATE_DB}`)
    const handle = createDb({ kind: 'postgres', url: databaseUrl(TEMPLATE_DB), max: 1 })
    await migrate(handle)
    await handle.close()
    await admin.unsafe(`alter database ${TEMPLATE_DB} with is_template true`)
    // Leftovers of killed earlier runs (never a concurrent run's: those are younger than STALE_MS).
    const all = await admin<{ datname: string }[]>`select datname from pg_database where datname like 'ov\_t%'`
    for (const { datname } of all) {
      const born = parseInt(datname.split('_')[2] ?? '', 36)
      if (Number.isFinite(born) && Date.now() - born > STALE_MS) {
        await admin.unsafe(`alter database "${datname}" with is_template false`).catch(() => {})
        await admin.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {})
      }
    }
    return TEMPLATE_DB
  } finally {
    await admin.end()
  }
}

export interface TestDatabase {
  name: string
  url: string
  drop(): Promise<void>
}

/** A fresh, migrated Postgres database for one test file, cloned from the template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ov_t_${stamp()}_${randomBytes(4).toString('hex')}`
  const TEMPLATE_DB = templateDbName()
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    for (let i = 0; ; i++) {
      try {
        await admin.unsafe(`create database ${name} template ${TEMPLATE_DB}`)
        break
      } catch (err) {
        // Another file cloning at the same moment holds the template briefly.
        if (i >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err
        await new Promise((r) => setTimeout(r, 100 + i * 50))
      }
    }
  } finally {
    await admin.end()
  }
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      const a = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await a.end()
      }
    },
  }
}

export interface TestPostgres {
  database: TestDatabase
  handle: DbHandle
  /** Ends the pool, then drops the database. */
  close(): Promise<void>
}

/** A fresh, migrated Postgres database for one test file (createTestDatabase) with a pool of `max` connections on it. */
export async function openTestPostgres({ max = 4 }: { max?: number } = {}): Promise<TestPostgres> {
  const database = await createTestDatabase()
  const handle = createDb({ kind: 'postgres', url: database.url, max })
  return {
    database,
    handle,
    async close() {
      await handle.close()
      await database.drop()
    },
  }
}

/** An in-memory PGlite database with every migration applied (embedded mode). */
export async function createEmbeddedDb(): Promise<DbHandle> {
  const handle = createDb({ kind: 'pglite', dataDir: 'memory://' })
  await migrate(handle)
  return handle
}

export async function dropTemplateDatabase(name: string): Promise<void> {
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`alter database ${name} with is_template false`)
    await admin.unsafe(`drop database if exists ${name} with (force)`)
  } finally {
    await admin.end()
  }
}
