import { apiTokens, type ApiTokenRow, type Db, rawSql } from '@openvesper/db'
import { newId } from '@openvesper/shared'
import { and, eq, isNull } from 'drizzle-orm'

/** The columns verifying a token needs. */
export type TokenLookup = Pick<ApiTokenRow, 'id' | 'principalId' | 'tokenHash' | 'scopes' | 'revokedAt'>

/** What a new token row is made of; the id is generated here. */
export interface NewTokenRow {
  principalId: string
  name: string
  /** SHA-256 of the secret, hex. */
  tokenHash: string
  last4: string
  scopes: string[]
  createdAt: Date
}

/** The statements on `api_tokens`. This package is the only writer of the auth tables. */
export interface TokensRepo {
  findByHash(hex: string): Promise<TokenLookup | undefined>
  findById(id: string): Promise<ApiTokenRow | undefined>
  insert(row: NewTokenRow): Promise<ApiTokenRow>
  /** Inserts the row, or (same hash) sets its scopes and principal; an existing row keeps its revocation. */
  upsertByHash(row: NewTokenRow, set: { scopes: string[]; principalId: string }): Promise<void>
  /** Sets `revoked_at` when it is not set yet. */
  markRevoked(id: string, at: Date): Promise<void>
  isActive(id: string): Promise<boolean>
  /** Every token, oldest first. */
  list(): Promise<ApiTokenRow[]>
  /** Active tokens named `name` whose hash is not `hex`. */
  activeNamedExcept(name: string, hex: string): Promise<ApiTokenRow[]>
  /** Some active token holding every scope in `scopes`, or undefined. */
  findActiveWithScopes(scopes: string[]): Promise<ApiTokenRow | undefined>
}

export function createTokensRepo(db: Db): TokensRepo {
  const raw = rawSql(db)
  return {
    async findByHash(hex) {
      // Every authenticated request without a cached token runs this: one prepared statement.
      const [row] = await raw.query<{ id: string; principal_id: string; token_hash: string; scopes: string[]; revoked_at: Date | null }>(
        'select id, principal_id, token_hash, scopes, revoked_at from api_tokens where token_hash = $1',
        [hex],
      )
      return row && { id: row.id, principalId: row.principal_id, tokenHash: row.token_hash, scopes: row.scopes, revokedAt: row.revoked_at }
    },

    findById: (id) => db.query.apiTokens.findFirst({ where: (t, { eq }) => eq(t.id, id) }),

    async insert(values) {
      const [row] = await db
        .insert(apiTokens)
        .values({ id: newId('token'), ...values })
        .returning()
      if (!row) throw new Error('token insert returned no row')
      return row
    },

    async upsertByHash(values, set) {
      await db
        .insert(apiTokens)
        .values({ id: newId('token'), ...values })
        .onConflictDoUpdate({ target: apiTokens.tokenHash, set })
    },

    async markRevoked(id, at) {
      await db
        .update(apiTokens)
        .set({ revokedAt: at })
        .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
    },

    async isActive(id) {
      const rows = await db
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
        .limit(1)
      return rows.length === 1
    },

    list: () => db.query.apiTokens.findMany({ orderBy: (t, { asc }) => [asc(t.createdAt), asc(t.id)] }),

    activeNamedExcept: (name, hex) =>
      db.query.apiTokens.findMany({
        where: (t, { and, eq, ne, isNull }) => and(eq(t.name, name), ne(t.tokenHash, hex), isNull(t.revokedAt)),
      }),

    findActiveWithScopes: (scopes) =>
      db.query.apiTokens.findFirst({
        where: (t, { and, isNull, sql }) => and(isNull(t.revokedAt), sql`${t.scopes} @> ${JSON.stringify(scopes)}::jsonb`),
      }),
  }
}
