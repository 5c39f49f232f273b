import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { apiTokens, type ApiTokenRow, type Db } from '@openvesper/db'
import { type Clock, newId } from '@openvesper/shared'
import { and, eq, isNull } from 'drizzle-orm'

/** The authenticated caller of a request: who it is and what its token may do (bound server-side). */
export interface Principal {
  id: string
  tokenId: string
  scopes: readonly string[]
}

/** A token as operators see it: never the secret, only its last four characters. */
export interface TokenRecord {
  id: string
  name: string
  principalId: string
  scopes: string[]
  last4: string
  createdAt: Date
  revokedAt: Date | null
}

export interface TokensService {
  /** The principal of an active token, or undefined (unknown, revoked or malformed). Throws only when the database fails. */
  verify(token: string): Promise<Principal | undefined>
  /** Creates a token; the secret is returned here only, the database keeps its SHA-256. */
  create(input: { name: string; scopes: string[]; principalId?: string }): Promise<{ token: string; record: TokenRecord }>
  list(): Promise<TokenRecord[]>
  /** False when no token has this id. Revoking a revoked token keeps its first revocation time. */
  revoke(id: string): Promise<boolean>
  /** False once the token is revoked (or gone): open streams re-check it and close. */
  isActive(tokenId: string): Promise<boolean>
  /**
   * Bootstrap admin: `token` given → upsert its hash with scopes ['admin'] and principal 'prn_admin', and revoke
   * the tokens earlier values of OPENVESPER_TOKEN created (rotation); not given and `generateIfMissing` and no
   * active admin token exists → create one and return it in `generated` (the caller prints it once).
   * A configured token that was revoked through the API stays revoked: configure a new value instead.
   */
  ensureBootstrap(token: string | undefined, opts: { generateIfMissing: boolean }): Promise<{ generated?: string }>
}

export interface TokensDeps {
  db: Db
  clock: Clock
}

export const TOKEN_PREFIX = 'ovk_'
/** Longest bearer token accepted anywhere (header or query); longer values are rejected without a lookup. */
export const MAX_TOKEN_LENGTH = 512
/** A configured bootstrap token must be at least this long. */
export const MIN_BOOTSTRAP_TOKEN_LENGTH = 16
export const BOOTSTRAP_PRINCIPAL_ID = 'prn_admin'
const CONFIGURED_BOOTSTRAP_NAME = 'bootstrap (OPENVESPER_TOKEN)'
const GENERATED_BOOTSTRAP_NAME = 'bootstrap (generated)'
const VISIBLE_ASCII = /^[\x21-\x7e]+$/

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/** Compares two secrets in constant time on fixed-length SHA-256 digests; false (never throws) for any mismatch. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false
  return timingSafeEqual(sha256(a), sha256(b))
}

/** True for strings that can be a bearer token at all: 1–512 visible ASCII characters. */
export const isWellFormedToken = (token: string): boolean =>
  typeof token === 'string' && token.length > 0 && token.length <= MAX_TOKEN_LENGTH && VISIBLE_ASCII.test(token)

const toRecord = (row: ApiTokenRow): TokenRecord => ({
  id: row.id,
  name: row.name,
  principalId: row.principalId,
  scopes: [...row.scopes],
  last4: row.last4,
  createdAt: row.createdAt,
  revokedAt: row.revokedAt,
})

/**
 * Tokens stored as SHA-256 digests (hex). Nothing is cached, so a revocation applies to the very next request.
 *
 * Writes that change an existing row use `insert … on conflict (id) do update` with the row read just before:
 * the gateway does not depend on drizzle-orm's operators, and the conflict arbiter makes it an update of that row.
 */
export function createTokensService({ db, clock }: TokensDeps): TokensService {
  async function findByDigest(digest: Buffer): Promise<ApiTokenRow | undefined> {
    const hex = digest.toString('hex')
    // Every authenticated request runs this: a plain indexed select (the relational builder costs more CPU).
    const [row] = await db.select().from(apiTokens).where(eq(apiTokens.tokenHash, hex)).limit(1)
    return row
  }

  async function insert(input: { name: string; scopes: string[]; principalId: string }, token: string): Promise<ApiTokenRow> {
    const [row] = await db
      .insert(apiTokens)
      .values({
        id: newId('token'),
        principalId: input.principalId,
        name: input.name,
        tokenHash: sha256(token).toString('hex'),
        last4: token.slice(-4),
        scopes: [...input.scopes],
        createdAt: clock.now(),
      })
      .returning()
    if (!row) throw new Error('token insert returned no row')
    return row
  }

  async function markRevoked(row: ApiTokenRow): Promise<void> {
    await db
      .update(apiTokens)
      .set({ revokedAt: clock.now() })
      .where(and(eq(apiTokens.id, row.id), isNull(apiTokens.revokedAt)))
  }

  const generateToken = (): string => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`

  return {
    async verify(token) {
      if (!isWellFormedToken(token)) return undefined
      const digest = sha256(token)
      const row = await findByDigest(digest)
      if (!row) return undefined
      const stored = Buffer.from(row.tokenHash, 'hex')
      if (stored.length !== digest.length || !timingSafeEqual(stored, digest)) return undefined
      if (row.revokedAt !== null) return undefined
      return { id: row.principalId, tokenId: row.id, scopes: Object.freeze([...row.scopes]) }
    },

    async create({ name, scopes, principalId }) {
      const token = generateToken()
      const row = await insert({ name, scopes, principalId: principalId ?? newId('principal') }, token)
      return { token, record: toRecord(row) }
    },

    async isActive(tokenId) {
      const rows = await db
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt)))
        .limit(1)
      return rows.length === 1
    },

    async list() {
      const rows = await db.query.apiTokens.findMany({ orderBy: (t, { asc }) => [asc(t.createdAt), asc(t.id)] })
      return rows.map(toRecord)
    },

    async revoke(id) {
      const row = await db.query.apiTokens.findFirst({ where: (t, { eq }) => eq(t.id, id) })
      if (!row) return false
      if (row.revokedAt === null) await markRevoked(row)
      return true
    },

    async ensureBootstrap(token, { generateIfMissing }) {
      if (token !== undefined) {
        if (!isWellFormedToken(token) || token.length < MIN_BOOTSTRAP_TOKEN_LENGTH)
          throw new Error(`OPENVESPER_TOKEN must be ${MIN_BOOTSTRAP_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} visible ASCII characters (no spaces)`)
        const hex = sha256(token).toString('hex')
        await db
          .insert(apiTokens)
          .values({
            id: newId('token'),
            principalId: BOOTSTRAP_PRINCIPAL_ID,
            name: CONFIGURED_BOOTSTRAP_NAME,
            tokenHash: hex,
            last4: token.slice(-4),
            scopes: ['admin'],
            createdAt: clock.now(),
          })
          .onConflictDoUpdate({ target: apiTokens.tokenHash, set: { scopes: ['admin'], principalId: BOOTSTRAP_PRINCIPAL_ID } })
        // Rotation: values OPENVESPER_TOKEN had before stop working as soon as the new one is configured.
        const previous = await db.query.apiTokens.findMany({
          where: (t, { and, eq, ne, isNull }) => and(eq(t.name, CONFIGURED_BOOTSTRAP_NAME), ne(t.tokenHash, hex), isNull(t.revokedAt)),
        })
        for (const row of previous) await markRevoked(row)
        return {}
      }
      if (!generateIfMissing) return {}
      const activeAdmin = await db.query.apiTokens.findFirst({
        where: (t, { and, isNull, sql }) => and(isNull(t.revokedAt), sql`${t.scopes} @> ${JSON.stringify(['admin'])}::jsonb`),
      })
      if (activeAdmin) return {}
      const generated = generateToken()
      await insert({ name: GENERATED_BOOTSTRAP_NAME, scopes: ['admin'], principalId: BOOTSTRAP_PRINCIPAL_ID }, generated)
      return { generated }
    },
  }
}
