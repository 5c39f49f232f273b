import { createHash, randomBytes } from 'node:crypto'
import { apiTokens, type Db, type RunMode, type RunRow, runs, type RunStatus, type SessionRow, sessions } from '@openvesper/db'
import { newId } from '@openvesper/shared'

/**
 * Rows straight into the database, so a test that needs "a principal with a token", "a session" or "a run in this
 * state" says so in one line instead of driving the API to get there. Each row is written as the owning package
 * writes it (the token as its SHA-256, like the gateway's token service), so the gateway reads it as its own.
 */

export interface CreatedPrincipal {
  principalId: string
  tokenId: string
  /** The bearer secret (`ovk_` + 32 random bytes, base64url), shown here only; the row keeps its SHA-256. */
  token: string
}

/** A new principal (or `principalId`) with one active token holding exactly `scopes` (default `runs:read`, `runs:write`). */
export async function createPrincipal(
  db: Db,
  { scopes = ['runs:read', 'runs:write'], principalId = newId('principal'), name = 'factory' }: { scopes?: string[]; principalId?: string; name?: string } = {},
): Promise<CreatedPrincipal> {
  const token = `ovk_${randomBytes(32).toString('base64url')}`
  const tokenId = newId('token')
  await db.insert(apiTokens).values({
    id: tokenId,
    principalId,
    name,
    tokenHash: createHash('sha256').update(token, 'utf8').digest('hex'),
    last4: token.slice(-4),
    scopes: [...scopes],
  })
  return { principalId, tokenId, token }
}

/** A session of `principalId` under `key` (default: a unique one) for `agentId` (default `main`). */
export async function createSession(
  db: Db,
  { principalId, key = `key-${randomBytes(6).toString('hex')}`, agentId = 'main' }: { principalId: string; key?: string; agentId?: string },
): Promise<{ sessionId: string; session: SessionRow }> {
  const [session] = await db
    .insert(sessions)
    .values({ id: newId('session'), principalId, key, agentId })
    .returning()
  if (!session) throw new Error('session insert returned no row')
  return { sessionId: session.id, session }
}

export interface RunFactoryInput {
  principalId: string
  /** Default `queued`, with no job behind it: a worker sees it only when the reconciler re-sends stale queued runs. */
  status?: RunStatus
  sessionId?: string | null
  agentId?: string
  mode?: RunMode
  message?: string
  output?: string | null
  /** Required by the table when `status` is `failed`; defaults to `upstream_unavailable` then. */
  failureReason?: string | null
  idempotencyKey?: string | null
  requestId?: string | null
  createdAt?: Date
}

/**
 * A run row as the runs repository inserts it, in any status. A terminal status gets `finishedAt` (and `startedAt`),
 * `running` gets `startedAt` and attempt 1; no events are written and no job is enqueued.
 */
export async function createRun(db: Db, input: RunFactoryInput): Promise<{ runId: string; run: RunRow }> {
  const status = input.status ?? 'queued'
  const now = new Date()
  const started = status !== 'queued'
  const finished = status === 'completed' || status === 'failed' || status === 'cancelled'
  const [run] = await db
    .insert(runs)
    .values({
      id: newId('run'),
      principalId: input.principalId,
      agentId: input.agentId ?? 'main',
      sessionId: input.sessionId ?? null,
      mode: input.mode ?? 'async',
      status,
      failureReason: input.failureReason ?? (status === 'failed' ? 'upstream_unavailable' : null),
      input: { message: input.message ?? 'factory run' },
      output: input.output ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      requestId: input.requestId ?? null,
      attempt: started ? 1 : 0,
      startedAt: started ? now : null,
      finishedAt: finished ? now : null,
      ...(input.createdAt ? { createdAt: input.createdAt } : {}),
    })
    .returning()
  if (!run) throw new Error('run insert returned no row')
  return { runId: run.id, run }
}
