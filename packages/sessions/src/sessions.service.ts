import type { Db, SessionMessageRow, SessionRow } from '@openvesper/db'
import { AppError, conflict, invalidRequest, newId, notFound } from '@openvesper/shared'
import { type QueueMode, type QueueModeSource, resolveQueueMode } from './queue-modes.js'
import { parseSessionKey } from './session-key.js'
import { contextWindowOf, estimateMessageTokens } from './tokens.js'
import { createSessionsRepo, type SessionSummaryRow, type WaitingRunRow } from './sessions.repo.js'

export interface SessionsPrincipal {
  id: string
}

export interface SessionsDeps {
  db: Db
  /** Whether an agent id names a configured agent (the agent registry of core, injected). */
  agents: { has(agentId: string): boolean }
  /** The queue settings below the session's own: the gateway's default mode and cap, each agent's mode. */
  queue: { mode: QueueMode; cap: number; agentMode(agentId: string): QueueMode | undefined }
  /** What a turn of the agent sends besides the transcript: its `provider/model`, window override and system prompt. */
  agentContext(agentId: string): { model: string; contextWindow?: number; systemPrompt?: string }
}

/** A session's token accounting as GET /sessions/:key/tokens shows it. */
export interface SessionTokens {
  session: SessionSummaryRow
  inputTokens: number
  outputTokens: number
  /** Some counts are a tokenizer's estimate (the provider reported none). */
  estimated: boolean
  runs: number
  model: string
  /** Estimated tokens the next turn sends (system prompt and the bounded transcript of the current epoch). */
  contextTokens: number
  contextWindow: number
  /** False when the model is not in the built-in table and no override is configured (a conservative window applies). */
  windowKnown: boolean
}

/** A session's queue as GET /sessions/:key/queue shows it. */
export interface SessionQueueView {
  session: SessionSummaryRow
  mode: QueueMode
  source: QueueModeSource
  cap: number
  /** The run executing (or about to) in the session, if any. */
  activeRunId: string | null
  waiting: WaitingRunRow[]
}

export const SESSIONS_PAGE_MAX = 200
export const SESSIONS_PAGE_DEFAULT = 50

export interface ListSessionsInput {
  agentId?: string
  activeSince?: Date
  activeBefore?: Date
  cursor?: string
  limit?: number
}

export interface MessagesInput {
  order?: 'asc' | 'desc'
  cursor?: string
  limit?: number
}

export interface Page<T> {
  items: T[]
  /** Pass back as `cursor` for the next page; null on the last one. */
  nextCursor: string | null
}

export interface SessionDetail {
  session: SessionSummaryRow
  messages: Page<SessionMessageRow>
}

/** Cursors are opaque to clients: base64url of the position they continue after. */
const encodeCursor = (position: string) => Buffer.from(position, 'utf8').toString('base64url')
function decodeCursor(cursor: string, shape: RegExp): RegExpExecArray {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8')
  const match = shape.exec(decoded)
  if (!match) throw invalidRequest('cursor is not one this endpoint returned', [{ path: 'querystring.cursor', message: 'unknown cursor' }])
  return match
}
// Digit counts bound what a forged cursor can carry to values the queries hold (micros up to the year 2286 and
// sequence numbers within Number.MAX_SAFE_INTEGER), so it is a 400 here, never a bigint overflow in SQL.
const SESSION_CURSOR = /^s1:(-?\d{1,16}):(ses_[0-9a-z]{8,64})$/
const MESSAGE_CURSOR = /^m1:(asc|desc):(\d{1,15})$/

const clampLimit = (limit: number | undefined) => Math.min(Math.max(limit ?? SESSIONS_PAGE_DEFAULT, 1), SESSIONS_PAGE_MAX)

/**
 * Sessions as a capability: list, read, reset, switch agent, fork, branch, delete, prune. Principal-aware (every call
 * names the caller; another principal's session is a 404, indistinguishable from a missing one), no HTTP. Keys are
 * taken as given and brought to their stored form by the key rule (`parseSessionKey`) first.
 */
export function createSessionsService(deps: SessionsDeps) {
  const repo = createSessionsRepo(deps.db)
  const keyOf = (raw: string, field = 'key') => parseSessionKey(raw, field)

  async function summaryOrThrow(principal: SessionsPrincipal, key: string): Promise<SessionSummaryRow> {
    const session = await repo.summary(principal.id, key)
    if (!session) throw notFound('session', key)
    return session
  }

  /** The mode a busy session applies to a message that names none, and which setting it comes from. */
  function queueModeOf(session: Pick<SessionRow, 'queueMode' | 'agentId'>): { mode: QueueMode; source: QueueModeSource } {
    return resolveQueueMode({ session: session.queueMode, agent: deps.queue.agentMode(session.agentId), fallback: deps.queue.mode })
  }

  async function queueView(session: SessionSummaryRow): Promise<SessionQueueView> {
    const waiting = await repo.waitingRuns(session.id)
    const activeRunId = session.activeRunId && !waiting.some((w) => w.id === session.activeRunId) ? session.activeRunId : null
    return { session, ...queueModeOf(session), cap: deps.queue.cap, activeRunId, waiting }
  }

  async function messagesPage(session: SessionRow, input: MessagesInput): Promise<Page<SessionMessageRow>> {
    const order = input.order ?? 'asc'
    const limit = clampLimit(input.limit)
    let afterSeq: number | undefined
    if (input.cursor !== undefined) {
      const [, cursorOrder, seq] = decodeCursor(input.cursor, MESSAGE_CURSOR)
      if (cursorOrder !== order)
        throw invalidRequest(`cursor was returned for order=${cursorOrder}`, [{ path: 'querystring.cursor', message: 'order differs' }])
      afterSeq = Number(seq)
    }
    const rows = await repo.messages(session.id, { order, afterSeq, limit: limit + 1 })
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(`m1:${order}:${last.seq}`) : null }
  }

  function busy(key: string, runId: string, action: string): AppError {
    return new AppError('session_busy', `session '${key}' has an active run (${runId}); ${action} once it ends or abort it`, { details: { runId } })
  }

  return {
    /** The principal's sessions, latest activity first. */
    async list(principal: SessionsPrincipal, input: ListSessionsInput): Promise<Page<SessionSummaryRow>> {
      const limit = clampLimit(input.limit)
      let after: { activityUs: string; id: string } | undefined
      if (input.cursor !== undefined) {
        const [, activityUs, id] = decodeCursor(input.cursor, SESSION_CURSOR)
        after = { activityUs: activityUs!, id: id! }
      }
      const rows = await repo.list(principal.id, {
        agentId: input.agentId,
        activeSince: input.activeSince,
        activeBefore: input.activeBefore,
        after,
        limit: limit + 1,
      })
      const items = rows.slice(0, limit)
      const last = items.at(-1)
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(`s1:${last.activityUs}:${last.id}`) : null }
    },

    async get(principal: SessionsPrincipal, rawKey: string, page: MessagesInput = {}): Promise<SessionDetail> {
      const session = await summaryOrThrow(principal, keyOf(rawKey))
      return { session, messages: await messagesPage(session, { order: 'desc', ...page }) }
    },

    /** The transcript, every epoch (a message before the last reset has an epoch below the session's). */
    async messages(principal: SessionsPrincipal, rawKey: string, input: MessagesInput): Promise<{ session: SessionRow; page: Page<SessionMessageRow> }> {
      const key = keyOf(rawKey)
      const session = await repo.findByKey(principal.id, key)
      if (!session) throw notFound('session', key)
      return { session, page: await messagesPage(session, input) }
    },

    /** Drops the session and its transcript; 409 `session_busy` while a run is active in it. */
    async delete(principal: SessionsPrincipal, rawKey: string): Promise<void> {
      const key = keyOf(rawKey)
      const result = await repo.delete(principal.id, key)
      if (!result.ok) throw result.reason === 'missing' ? notFound('session', key) : busy(key, result.runId, 'delete it')
    },

    /**
     * Clears the transcript for the model: later runs see no earlier message. The messages stay readable (their
     * epoch is below the session's) and the settings stay. 409 `session_busy` while a run is active in it.
     */
    async reset(principal: SessionsPrincipal, rawKey: string): Promise<SessionSummaryRow> {
      const key = keyOf(rawKey)
      const result = await repo.reset(principal.id, key)
      if (!result.ok) throw result.reason === 'missing' ? notFound('session', key) : busy(key, result.runId, 'reset it')
      return summaryOrThrow(principal, key)
    },

    /** Later runs in the session that name no agent use `agentId`. 404 for an unknown agent. */
    async setAgent(principal: SessionsPrincipal, rawKey: string, agentId: string): Promise<SessionSummaryRow> {
      const key = keyOf(rawKey)
      if (!deps.agents.has(agentId)) throw notFound('agent', agentId)
      if (!(await repo.setAgent(principal.id, key, agentId))) throw notFound('session', key)
      return summaryOrThrow(principal, key)
    },

    /** A copy of the whole session under `targetKey`; 409 when the principal already has a session there. */
    async fork(principal: SessionsPrincipal, rawKey: string, rawTarget: string): Promise<SessionSummaryRow> {
      const key = keyOf(rawKey)
      const target = keyOf(rawTarget, 'body.key')
      const result = await repo.fork(principal.id, key, target, newId('session'))
      if (!result.ok) {
        if (result.reason === 'exists') throw conflict(`a session '${target}' already exists`, 'session_exists')
        throw notFound('session', key)
      }
      return summaryOrThrow(principal, target)
    },

    /** A new session under `targetKey` with the transcript up to and including `messageId`; 409 when the target exists. */
    async branch(principal: SessionsPrincipal, rawKey: string, messageId: string, rawTarget: string): Promise<SessionSummaryRow> {
      const key = keyOf(rawKey)
      const target = keyOf(rawTarget, 'body.key')
      const result = await repo.branch(principal.id, key, messageId, target, newId('session'))
      if (!result.ok) {
        if (result.reason === 'exists') throw conflict(`a session '${target}' already exists`, 'session_exists')
        if (result.reason === 'no_message') throw notFound('message', messageId)
        throw notFound('session', key)
      }
      return summaryOrThrow(principal, target)
    },

    queueModeOf,

    /** The session's token totals, the size of its current context and the model's window. */
    async tokens(principal: SessionsPrincipal, rawKey: string): Promise<SessionTokens> {
      const session = await summaryOrThrow(principal, keyOf(rawKey))
      const agent = deps.agentContext(session.agentId)
      const [usage, context] = await Promise.all([repo.usage(session.id), repo.contextTranscript(session.id)])
      const window = contextWindowOf(agent.model, agent.contextWindow)
      const contextTokens =
        (agent.systemPrompt ? estimateMessageTokens(agent.systemPrompt) : 0) +
        context.reduce((n, m) => n + estimateMessageTokens(String((m.content as { text?: string }).text ?? '')), 0)
      return { session, ...usage, model: agent.model, contextTokens, contextWindow: window.tokens, windowKnown: window.known }
    },

    /** The session's queue: its mode (and where it comes from), the active run, the waiting runs in the order they start. */
    async queue(principal: SessionsPrincipal, rawKey: string): Promise<SessionQueueView> {
      return queueView(await summaryOrThrow(principal, keyOf(rawKey)))
    },

    /** Sets the session's own queue mode (null: back to the agent's or the default). */
    async setQueueMode(principal: SessionsPrincipal, rawKey: string, mode: QueueMode | null): Promise<SessionQueueView> {
      const key = keyOf(rawKey)
      if (!(await repo.setQueueMode(principal.id, key, mode))) throw notFound('session', key)
      return queueView(await summaryOrThrow(principal, key))
    },

    /** Drops (or with `dryRun` counts) the principal's sessions idle for longer than `idleMs`; never one with an active run. */
    async prune(principal: SessionsPrincipal, idleMs: number, dryRun: boolean): Promise<number> {
      return repo.prune(principal.id, idleMs, dryRun)
    },
  }
}
export type SessionsService = ReturnType<typeof createSessionsService>
