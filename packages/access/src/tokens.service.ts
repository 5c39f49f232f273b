import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiTokenRow, Db } from '@openvesper/db'
import { type AuditEntry, type AuditSink, type Clock, type Logger, newId, noopAuditSink, setBounded, silentLogger } from '@openvesper/shared'
import { createTokensRepo } from './tokens.repo.js'

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
  /** Listens for revocations made by other gateways (only with a bus). */
  start(): Promise<void>
  stop(): Promise<void>
}

export interface TokensDeps {
  db: Db
  clock: Clock
  /**
   * How long a verified token is remembered (0: never). Revocations made here clear it at once and are
   * broadcast on `bus` to every other gateway; the time bounds only revocations nobody announced.
   */
  cacheMs?: number
  bus?: RevocationBus
  /** Token creations and revocations are recorded here (a failure to record is logged, never thrown). */
  audit?: AuditSink
  log?: Logger
}

/** Bus channel of revocations: the message is the revoked token's id. */
export const TOKEN_REVOCATIONS_CHANNEL = 'auth:revoked'
/** Most tokens remembered at once; the oldest entry goes first. */
const MAX_CACHED_TOKENS = 10_000

interface CachedToken {
  principal: Principal
  expiresAt: number
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

/**
 * What the tokens service needs of the event bus (the queue package's `EventBus` fits): revoked token ids are
 * published on `TOKEN_REVOCATIONS_CHANNEL`, and every gateway subscribed there forgets them.
 */
export interface RevocationBus {
  publish(channel: string, message: string): Promise<void>
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>
}

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
 * Tokens stored as SHA-256 digests (hex). Verified tokens are remembered for `cacheMs` (unknown ones never, so
 * guessing fills nothing); a revocation through this service forgets the token here at once and on every other
 * gateway through the bus, so it applies to the very next request. Statements are in tokens.repo.ts.
 */
export function createTokensService({ db, clock, cacheMs = 0, bus, audit = noopAuditSink, log = silentLogger }: TokensDeps): TokensService {
  const repo = createTokensRepo(db)
  /** Keyed by the token's SHA-256 (hex); never the token itself. */
  const cache = new Map<string, CachedToken>()
  let unsubscribe: (() => Promise<void>) | undefined

  const forget = (tokenId: string) => {
    for (const [key, entry] of cache) if (entry.principal.tokenId === tokenId) cache.delete(key)
  }
  const announce = async (tokenId: string) => {
    forget(tokenId)
    await bus?.publish(TOKEN_REVOCATIONS_CHANNEL, tokenId).catch((err) => {
      log.warn({ err: (err as Error).message }, `token revocation not broadcast; other gateways may accept the token for up to ${cacheMs} ms`)
    })
  }
  const recordAudit = async (entry: AuditEntry) => {
    await audit.record({ at: clock.now(), ...entry }).catch((err) => {
      log.warn({ err: err instanceof Error ? err.message : String(err), action: entry.action }, 'audit entry not recorded')
    })
  }
  const revokeRow = async (row: ApiTokenRow) => {
    await repo.markRevoked(row.id, clock.now())
    await recordAudit({ action: 'token.revoke', target: row.id, outcome: 'success', detail: { principalId: row.principalId } })
  }

  const insert = async (input: { name: string; scopes: string[]; principalId: string }, token: string): Promise<ApiTokenRow> => {
    const row = await repo.insert({
      principalId: input.principalId,
      name: input.name,
      tokenHash: sha256(token).toString('hex'),
      last4: token.slice(-4),
      scopes: [...input.scopes],
      createdAt: clock.now(),
    })
    await recordAudit({ action: 'token.create', target: row.id, outcome: 'success', detail: { principalId: row.principalId, scopes: [...row.scopes] } })
    return row
  }

  const generateToken = (): string => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`

  return {
    async verify(token) {
      if (!isWellFormedToken(token)) return undefined
      const digest = sha256(token)
      const key = digest.toString('hex')
      const cached = cache.get(key)
      if (cached && cached.expiresAt > Date.now()) return cached.principal
      if (cached) cache.delete(key)
      const row = await repo.findByHash(key)
      if (!row) return undefined
      const stored = Buffer.from(row.tokenHash, 'hex')
      if (stored.length !== digest.length || !timingSafeEqual(stored, digest)) return undefined
      if (row.revokedAt !== null) return undefined
      const principal: Principal = Object.freeze({ id: row.principalId, tokenId: row.id, scopes: Object.freeze([...row.scopes]) })
      if (cacheMs > 0) setBounded(cache, key, { principal, expiresAt: Date.now() + cacheMs }, MAX_CACHED_TOKENS)
      return principal
    },

    async start() {
      unsubscribe = await bus?.subscribe(TOKEN_REVOCATIONS_CHANNEL, forget)
    },

    async stop() {
      await unsubscribe?.()
      unsubscribe = undefined
      cache.clear()
    },

    async create({ name, scopes, principalId }) {
      const token = generateToken()
      const row = await insert({ name, scopes, principalId: principalId ?? newId('principal') }, token)
      return { token, record: toRecord(row) }
    },

    isActive: (tokenId) => repo.isActive(tokenId),

    async list() {
      return (await repo.list()).map(toRecord)
    },

    async revoke(id) {
      const row = await repo.findById(id)
      if (!row) return false
      if (row.revokedAt === null) await revokeRow(row)
      await announce(row.id)
      return true
    },

    async ensureBootstrap(token, { generateIfMissing }) {
      if (token !== undefined) {
        if (!isWellFormedToken(token) || token.length < MIN_BOOTSTRAP_TOKEN_LENGTH)
          throw new Error(`OPENVESPER_TOKEN must be ${MIN_BOOTSTRAP_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} visible ASCII characters (no spaces)`)
        const hex = sha256(token).toString('hex')
        await repo.upsertByHash(
          {
            principalId: BOOTSTRAP_PRINCIPAL_ID,
            name: CONFIGURED_BOOTSTRAP_NAME,
            tokenHash: hex,
            last4: token.slice(-4),
            scopes: ['admin'],
            createdAt: clock.now(),
          },
          { scopes: ['admin'], principalId: BOOTSTRAP_PRINCIPAL_ID },
        )
        // Rotation: values OPENVESPER_TOKEN had before stop working as soon as the new one is configured.
        for (const row of await repo.activeNamedExcept(CONFIGURED_BOOTSTRAP_NAME, hex)) {
          await revokeRow(row)
          await announce(row.id)
        }
        return {}
      }
      if (!generateIfMissing) return {}
      if (await repo.findActiveWithScopes(['admin'])) return {}
      const generated = generateToken()
      await insert({ name: GENERATED_BOOTSTRAP_NAME, scopes: ['admin'], principalId: BOOTSTRAP_PRINCIPAL_ID }, generated)
      return { generated }
    },
  }
}
