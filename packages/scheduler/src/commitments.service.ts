import type { CommitmentRow, CommitmentStatus } from '@openvesper/db'
import { AppError, conflict, invalidRequest, newId, notFound } from '@openvesper/shared'
import { createCommitmentsRepo } from './commitments.repo.js'
import type { SchedulerDeps } from './deps.js'

export interface CreateCommitmentInput {
  agent?: string
  sessionKey: string
  text: string
  dueAt: Date
  sourceRunId?: string
}

/** The context of a tool call (core's `ToolContext`, matched structurally: the scheduler does not import core). */
export interface CommitmentToolContext {
  runId: string
  principalId: string
  agentId: string
  sessionId: string | null
  now(): Date
}

/** A runtime tool (core's `Tool`, matched structurally). */
export interface CommitmentTool {
  name: string
  description: string
  parameters: Record<string, unknown>
  sideEffects: boolean
  execute(args: Record<string, unknown>, ctx: CommitmentToolContext): Promise<string>
}

const STRANDED_MS = 15_000

/** The message of the follow-up run a due commitment starts (the commitment is its context). */
export function followUpMessage(c: Pick<CommitmentRow, 'id' | 'text' | 'dueAt'>): string {
  return `Follow-up on commitment ${c.id}, due ${c.dueAt.toISOString()}: "${c.text}". It is due now and not marked fulfilled: do it now (then call commitment_fulfill), or say why it cannot be done.`
}

/**
 * Commitments: what an agent promised to do by a due time, in a session. One that falls due while open starts one
 * follow-up run in its session (claimed in one fenced statement; the run's idempotency key is `commitment:<id>`).
 */
export function createCommitmentsService(deps: Pick<SchedulerDeps, 'db' | 'startRun' | 'agentExists' | 'log'>) {
  const repo = createCommitmentsRepo(deps.db)

  async function create(principal: { id: string }, input: CreateCommitmentInput): Promise<CommitmentRow> {
    const agentId = input.agent ?? 'main'
    if (!deps.agentExists(agentId)) throw invalidRequest(`unknown agent '${agentId}'`, [{ path: '/agent', message: 'no such agent' }])
    if (!Number.isFinite(input.dueAt.getTime())) throw invalidRequest('dueAt is not a valid time', [{ path: '/dueAt', message: 'not a valid time' }])
    return repo.insert({
      id: newId('commitment'),
      principalId: principal.id,
      agentId,
      sessionKey: input.sessionKey,
      text: input.text,
      dueAt: input.dueAt,
      sourceRunId: input.sourceRunId ?? null,
    })
  }

  async function close(principal: { id: string }, id: string, status: 'fulfilled' | 'cancelled', note?: string): Promise<CommitmentRow> {
    const row = await repo.close(principal.id, id, status, note ?? null)
    if (row) return row
    const existing = await repo.find(principal.id, id)
    if (!existing) throw notFound('commitment', id)
    throw conflict(`commitment '${id}' is ${existing.status}, not open`)
  }

  async function followUp(c: CommitmentRow): Promise<void> {
    try {
      const { runId } = await deps.startRun({
        principalId: c.principalId,
        agentId: c.agentId,
        message: followUpMessage(c),
        sessionKey: c.sessionKey,
        idempotencyKey: `commitment:${c.id}`,
        lane: 'cron',
      })
      await repo.setFollowUp(c.id, runId, null)
    } catch (err) {
      const reason = err instanceof AppError ? `${err.code}: ${err.message}` : (err as Error).message
      // A busy session: back to open, claimed again by a later sweep; anything else is recorded on the commitment.
      if (err instanceof AppError && err.code === 'session_busy') return void (await repo.reopen(c.id))
      deps.log.warn({ commitmentId: c.id, reason }, 'a due commitment could not start its follow-up run')
      await repo.setFollowUp(c.id, null, `follow-up failed: ${reason}`)
    }
  }

  const toolResult = (c: CommitmentRow) => JSON.stringify({ id: c.id, text: c.text, dueAt: c.dueAt.toISOString(), status: c.status })

  const tools: CommitmentTool[] = [
    {
      name: 'commitment_create',
      description:
        'Records a commitment: something you promise to do in this conversation by a due time. If it is still open when due, you get a follow-up turn in this conversation.',
      parameters: {
        type: 'object',
        properties: {
          text: { type: 'string', description: 'What you promise to do.' },
          dueAt: { type: 'string', description: 'ISO 8601 due time.' },
          dueInSeconds: { type: 'integer', minimum: 1, description: 'Due this many seconds from now (instead of dueAt).' },
        },
        required: ['text'],
        additionalProperties: false,
      },
      sideEffects: true,
      async execute(args, ctx) {
        if (!ctx.sessionId) throw new Error('commitment_create needs a run in a session (commitments follow up in their session)')
        const sessionKey = await repo.sessionKeyOf(ctx.sessionId)
        if (!sessionKey) throw new Error('the session of this run no longer exists')
        const text = typeof args.text === 'string' ? args.text.trim() : ''
        if (!text) throw new Error('text is required')
        const dueAt =
          typeof args.dueInSeconds === 'number'
            ? new Date(ctx.now().getTime() + args.dueInSeconds * 1000)
            : typeof args.dueAt === 'string'
              ? new Date(args.dueAt)
              : undefined
        if (!dueAt || !Number.isFinite(dueAt.getTime())) throw new Error('give dueAt (ISO 8601) or dueInSeconds')
        return toolResult(await create({ id: ctx.principalId }, { agent: ctx.agentId, sessionKey, text, dueAt, sourceRunId: ctx.runId }))
      },
    },
    {
      name: 'commitment_fulfill',
      description: 'Marks one of your open commitments fulfilled (by its id), with an optional note.',
      parameters: {
        type: 'object',
        properties: { id: { type: 'string' }, note: { type: 'string' } },
        required: ['id'],
        additionalProperties: false,
      },
      sideEffects: true,
      async execute(args, ctx) {
        if (typeof args.id !== 'string') throw new Error('id is required')
        const row = await close({ id: ctx.principalId }, args.id, 'fulfilled', typeof args.note === 'string' ? args.note : undefined)
        return toolResult(row)
      },
    },
  ]

  return {
    create,
    async list(principal: { id: string }, filter: { status?: CommitmentStatus; sessionKey?: string; limit?: number }) {
      return repo.list(principal.id, filter, filter.limit ?? 100)
    },
    fulfill: (principal: { id: string }, id: string, note?: string) => close(principal, id, 'fulfilled', note),
    cancel: (principal: { id: string }, id: string) => close(principal, id, 'cancelled'),
    /** The runtime tools `commitment_create` and `commitment_fulfill`. */
    tools,
    /** Part of the scheduler's sweep: due open commitments each start one follow-up run; stranded claims are retried. */
    async sweep(): Promise<void> {
      for (const c of await repo.claimDue(100)) await followUp(c)
      for (const c of await repo.strandedFollowUps(STRANDED_MS, 100)) if (!c.note?.startsWith('follow-up failed')) await followUp(c)
    },
  }
}
export type CommitmentsService = ReturnType<typeof createCommitmentsService>
