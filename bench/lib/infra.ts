import { existsSync } from 'node:fs'
/** The machine's Postgres and Redis: bench databases (migrated, dropped at the end) and a unique Redis key prefix. */
import { randomBytes } from 'node:crypto'
// Built output of @openvesper/db (the bench runs against the built code, like the spawned gateway does).
import { postgres, Redis } from './deps.js'

export const PG_ADMIN_URL = process.env.OPENVESPER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.OPENVESPER_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

export function databaseUrl(name: string): string {
  const u = new URL(PG_ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

export interface BenchDatabase {
  name: string
  url: string
  /** A small pool for the bench's own reads (progress polling, counts). */
  sql: any
  drop(): Promise<void>
}

async function admin<T>(fn: (sql: any) => Promise<T>): Promise<T> {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    return await fn(sql)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

/** `ov_bench_<time>_<hex>_<suffix>`, migrated with the product's `migrate()`. */
export async function createBenchDatabase(suffix: string): Promise<BenchDatabase> {
  const name = `ov_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}_${suffix}`
  await admin((sql) => sql.unsafe(`create database ${name}`))
  const url = databaseUrl(name)
  // Imported here, not at the top: `pnpm bench` builds the packages first, so dist/ may not exist when this module loads.
  const { createDb, migrate } = await import('../../packages/db/dist/index.js')
  const handle = createDb({ kind: 'postgres', url, max: 1 })
  try {
    await migrate(handle)
  } finally {
    await handle.close()
  }
  const sql = postgres(url, { max: 2, onnotice: () => {}, connection: { application_name: 'ov-bench' } })
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 }).catch(() => {})
      await admin((a) => a.unsafe(`drop database if exists ${name} with (force)`))
    },
  }
}

/** Leftovers of interrupted bench runs older than an hour (never a concurrent run's). */
export async function dropStaleBenchDatabases(): Promise<string[]> {
  return admin(async (sql) => {
    const rows: { datname: string }[] = await sql`select datname from pg_database where datname like 'ov\_bench\_%'`
    const dropped: string[] = []
    for (const { datname } of rows) {
      const born = parseInt(datname.split('_')[2] ?? '', 36)
      if (Number.isFinite(born) && Date.now() - born > 60 * 60 * 1000) {
        await sql.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {})
        dropped.push(datname)
      }
    }
    return dropped
  })
}

/**
 * Checks that Postgres and Redis answer. Returns the Redis server's process id when it runs on this machine (its CPU
 * time is then metered with the rest), else undefined.
 */
export async function assertServices(): Promise<number | undefined> {
  await admin((sql) => sql`select 1`).catch((err: Error) => {
    throw new Error(`PostgreSQL is not reachable at ${new URL(PG_ADMIN_URL).host}: ${err.message}`)
  })
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    await r.connect()
    await r.ping()
    const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1])
    return Number.isInteger(pid) && existsSync(`/proc/${pid}`) ? pid : undefined
  } catch (err) {
    throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}`)
  } finally {
    r.disconnect()
  }
}

/** A unique Redis key prefix for this bench run; `cleanup()` deletes every key under it (SCAN + DEL, never FLUSHALL). */
export function benchRedisPrefix(): { prefix: string; cleanup(): Promise<number> } {
  const prefix = `ovbench${randomBytes(4).toString('hex')}`
  return {
    prefix,
    async cleanup() {
      const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
      await r.connect()
      let deleted = 0
      try {
        let cursor = '0'
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
          cursor = next
          if (keys.length) deleted += await r.del(...keys)
        } while (cursor !== '0')
      } finally {
        r.disconnect()
      }
      return deleted
    },
  }
}
