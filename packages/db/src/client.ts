import { existsSync } from 'node:fs'
import { cp, readFile, rename, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema/index.js'

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>

export type DbOptions =
  | { kind: 'postgres'; url: string; max?: number; applicationName?: string }
  /** `wasmModule`: from compilePgliteWasm(); without it PGlite reads and compiles its WebAssembly itself. */
  | { kind: 'pglite'; dataDir: string; wasmModule?: PgliteWasm }

/** PGlite's compiled WebAssembly module, opaque: the project's TypeScript libs declare no WebAssembly types. */
export type PgliteWasm = { readonly __pgliteWasm: unique symbol }
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<PgliteWasm> }

export interface DbHandle {
  kind: DbOptions['kind']
  db: Db
  /** Fails with host and port (never the password) when the database does not answer. */
  ping(): Promise<void>
  close(): Promise<void>
  /** The underlying driver, for the migrator only. */
  readonly driver: { kind: 'postgres'; sql: postgres.Sql } | { kind: 'pglite'; pglite: PGlite }
}

/** Describes where a URL points without its credentials, for error messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`
  } catch {
    return '(unparseable database URL)'
  }
}

/**
 * pgvector settings of every session (placeholders until the extension loads, harmless without it): HNSW scans go on
 * past `ef_search` candidates until enough rows pass the query's filters (memory filters by principal and agent
 * inside the scan), in approximately distance order (memory re-sorts the hits).
 */
const VECTOR_SEARCH_SETTINGS = { 'hnsw.iterative_scan': 'relaxed_order', 'hnsw.ef_search': '100' }

/** Wires a database handle. postgres.js connects lazily; PGlite opens its data folder on first use. */
export function createDb(options: DbOptions): DbHandle {
  if (options.kind === 'postgres') {
    const client = postgres(options.url, {
      max: options.max ?? 10,
      onnotice: () => {},
      connection: { application_name: options.applicationName ?? 'openvesper', ...VECTOR_SEARCH_SETTINGS },
      idle_timeout: 30,
      connect_timeout: 10,
    })
    const db = drizzlePostgres(client, { schema }) as unknown as Db
    return {
      kind: 'postgres',
      db,
      driver: { kind: 'postgres', sql: client },
      async ping() {
        try {
          await client`select 1`
        } catch (err) {
          throw new Error(`cannot reach PostgreSQL at ${describeUrl(options.url)}: ${(err as Error).message}`)
        }
      },
      close: () => client.end({ timeout: 5 }),
    }
  }
  baselineWasmOnly()
  // One connection, small buffers: the embedded database serves one process (the defaults cost ~130 MB RSS). Its
  // files live in the OS page cache anyway: 8 MB of shared buffers instead of 16 is ~10 MB less idle RSS, with the same
  // embedded async throughput in the bench.
  const pglite = new PGlite({
    ...(options.dataDir === 'memory://' ? {} : { dataDir: options.dataDir }),
    ...(options.wasmModule ? { pgliteWasmModule: options.wasmModule } : {}),
    startParams: [
      ...PGlite.defaultStartParams,
      '-c',
      'shared_buffers=8MB',
      '-c',
      'max_connections=5',
      ...Object.entries(VECTOR_SEARCH_SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    // pgvector's PGlite build, so memory's vector search works embedded too (the migration creates the extension).
    extensions: { vector },
  })
  const db = drizzlePglite(pglite, { schema }) as unknown as Db
  return {
    kind: 'pglite',
    db,
    driver: { kind: 'pglite', pglite },
    async ping() {
      await pglite.query('select 1')
    },
    close: () => pglite.close(),
  }
}

/**
 * PGlite's WebAssembly stays on V8's baseline compiler (Liftoff), process-wide: optimising its hot functions with
 * TurboFan during start-up costs ~0.7 s CPU and ~50 MB RSS, and the embedded benchmark is no slower without it
 * (a query's time is mostly in PGlite's JS protocol layer). Must be set before the module is compiled.
 */
function baselineWasmOnly(): void {
  setFlagsFromString('--liftoff-only')
}

/**
 * Compiles PGlite's WebAssembly for createDb's `wasmModule`: the file's bytes are then garbage before PGlite starts
 * rather than during its start (measured: ~9 MB less idle RSS than PGlite reading the file itself).
 */
export async function compilePgliteWasm(): Promise<PgliteWasm> {
  baselineWasmOnly()
  return WebAssembly.compile(await readFile(createRequire(import.meta.url).resolve('@electric-sql/pglite/pglite.wasm')))
}

/**
 * Seeds an embedded data folder that holds no database yet from `templateDir` (a data folder initialised and
 * migrated at build time): a copy instead of PGlite's initdb and every migration. The copy is made beside the folder
 * and renamed into place, so an interrupted copy never leaves a half-seeded folder. Returns false, doing nothing, when
 * the folder already holds a database, is not on disk, the template is missing, or the folder exists with other
 * content (PGlite then decides, as without a template).
 */
export async function seedDataDir(dataDir: string, templateDir: string): Promise<boolean> {
  const path = dataDir.startsWith('file://') ? dataDir.slice('file://'.length) : dataDir
  if (!path || path.includes('://')) return false
  const dir = resolve(path)
  if (existsSync(join(dir, 'PG_VERSION')) || !existsSync(join(templateDir, 'PG_VERSION'))) return false
  const tmp = `${dir}.seed-${process.pid}`
  try {
    await cp(templateDir, tmp, { recursive: true })
    // Refused when the folder exists with content (or its parent is missing).
    return await rename(tmp, dir).then(
      () => true,
      () => false,
    )
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

/** Rows of a raw `db.execute(sql)` result, whichever driver produced it. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[]
  return ((result as { rows?: T[] }).rows ?? []) as T[]
}

/** True when `err` is a Postgres unique violation (optionally of the named constraint). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = findPgError(err)
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint || e.constraint_name === constraint)
}

function findPgError(err: unknown): { code?: string; constraint?: string; constraint_name?: string } | undefined {
  let cur: unknown = err
  for (let i = 0; i < 4 && cur; i++) {
    const c = cur as { code?: string; cause?: unknown }
    if (typeof c.code === 'string' && /^[0-9A-Z]{5}$/.test(c.code)) return c as never
    cur = c.cause
  }
  return undefined
}
