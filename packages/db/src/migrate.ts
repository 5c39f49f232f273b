import { fileURLToPath } from 'node:url'
import type { Logger } from '@openvesper/shared'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import type { DbHandle } from './client.js'

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url))
/** Arbitrary constant shared by every OpenVesper process: the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 728_301_991

/**
 * Applies pending migrations. On Postgres a dedicated one-connection client takes an advisory lock
 * first, so concurrent starts serialise and the migrations run exactly once.
 */
export async function migrate(handle: DbHandle, log?: Logger): Promise<void> {
  if (handle.driver.kind === 'pglite') {
    await migratePglite(drizzlePglite(handle.driver.pglite), { migrationsFolder: MIGRATIONS_FOLDER })
    log?.info('database migrated (embedded)')
    return
  }
  const one = postgres({ ...pickConnection(handle.driver.sql), max: 1, onnotice: () => {} })
  try {
    await one`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
    try {
      await migratePostgres(drizzlePostgres(one), { migrationsFolder: MIGRATIONS_FOLDER })
    } finally {
      await one`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
    }
    log?.info('database migrated')
  } finally {
    await one.end({ timeout: 5 })
  }
}

/** Connection options of an existing postgres.js client (so the migrator reaches the same database). */
function pickConnection(sql: postgres.Sql): postgres.Options<Record<string, postgres.PostgresType>> {
  const o = sql.options as unknown as {
    host: string[]
    port: number[]
    database: string
    user: string
    pass: string | null | (() => string)
    ssl: unknown
    connection: Record<string, unknown>
  }
  return {
    host: o.host[0],
    port: o.port[0],
    database: o.database,
    username: o.user,
    password: typeof o.pass === 'function' ? o.pass() : (o.pass ?? undefined),
    ssl: o.ssl as never,
    connection: { application_name: 'openvesper-migrate' },
  }
}
