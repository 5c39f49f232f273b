import type { Db } from './client.js'

/**
 * Hand-written SQL for the hot path (every run and every authenticated request), sent straight to the driver:
 * drizzle's query builder costs more CPU than the statement itself at these rates, and postgres.js prepares
 * each statement text once per connection (no parse and plan per call). Parameters are positional (`$1`);
 * values are strings, numbers, booleans or null (cast JSON with `$n::jsonb`). Autocommit only: a statement that
 * must join a transaction goes through drizzle with the transaction's handle.
 */
export interface RawSql {
  query<T extends Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>
}

interface PostgresJsClient {
  unsafe(text: string, params: unknown[], options: { prepare: boolean }): Promise<unknown[]>
}
interface PgliteClient {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>
}

const cache = new WeakMap<object, RawSql>()

/** The raw runner of a database handle (the drizzle instance of `createDb`, not a transaction). */
export function rawSql(db: Db): RawSql {
  const client = (db as unknown as { $client?: object }).$client
  if (!client) throw new Error('rawSql needs the database handle from createDb, not a transaction')
  let raw = cache.get(client)
  if (raw) return raw
  if (typeof (client as Partial<PostgresJsClient>).unsafe === 'function') {
    const pg = client as PostgresJsClient
    raw = { query: async (text, params = []) => (await pg.unsafe(text, params as unknown[], { prepare: true })) as never }
  } else if (typeof (client as Partial<PgliteClient>).query === 'function') {
    const lite = client as PgliteClient
    raw = { query: async (text, params = []) => (await lite.query(text, params as unknown[])).rows as never }
  } else throw new Error('rawSql: unknown database driver')
  cache.set(client, raw)
  return raw
}
