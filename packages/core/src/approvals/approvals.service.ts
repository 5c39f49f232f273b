import type { ApprovalAction, ApprovalRow, ApprovalRuleMatch, ApprovalRuleRow, Db } from '@openvesper/db'
import type { EventBus, JobProducer } from '@openvesper/queue'
import { AppError, type AuditEntry, type AuditSink, conflict, type Logger, newId, noopAuditSink, notFound } from '@openvesper/shared'
import { RUN_EXECUTE_JOB } from '../jobs.js'
import type { CoreJobs } from '../jobs.js'
import type { RunEvent } from '../runs/event-types.js'
import type { RunEvents } from '../runs/events.js'
import { createRunsRepo } from '../runs/runs.repo.js'
import { argumentsHash, createApprovalsRepo } from './approvals.repo.js'
import { APPROVAL_RULES_CHANNEL, type ApprovalPolicy } from './policy.js'

/** Who asks: approvals are the run owner's (an admin token sees and decides every principal's). */
export interface ApprovalPrincipal {
  id: string
  scopes: readonly string[]
}

export interface Decision {
  decision: 'allow' | 'deny'
  reason?: string
  /** Adds a rule (first in the order) allowing or denying this tool for this agent from now on. */
  remember?: boolean
  /** Decide only if the approval is for exactly this call / these arguments (409 otherwise). */
  toolCallId?: string
  argsHash?: string
}

export interface DecideResult {
  approval: ApprovalRow
  /** True when this decision was the last one the run waited for: it was queued to resume. */
  resumed: boolean
  rule?: { index: number; row: ApprovalRuleRow }
}

export interface NewRule {
  match: ApprovalRuleMatch
  action: ApprovalAction
  reason?: string
  index?: number
}

export interface ApprovalsDeps {
  db: Db
  bus: EventBus
  events: RunEvents
  queue: JobProducer<CoreJobs>
  policy: ApprovalPolicy
  log: Logger
  audit?: AuditSink
}

const isAdmin = (p: ApprovalPrincipal) => p.scopes.includes('admin')

/** Approval gates: the queue of pending decisions, deciding (fenced, once), resuming the run, and the tool policy rules. */
export function createApprovalsService(deps: ApprovalsDeps) {
  const repo = createApprovalsRepo(deps.db)
  const runsRepo = createRunsRepo(deps.db)
  const audit = deps.audit ?? noopAuditSink
  const record = (entry: AuditEntry) =>
    audit.record(entry).catch((err) => deps.log.warn({ action: entry.action, err: (err as Error).message }, 'audit record failed'))

  const visible = (principal: ApprovalPrincipal, a: { principalId: string }) => isAdmin(principal) || a.principalId === principal.id

  async function getVisible(principal: ApprovalPrincipal, id: string): Promise<ApprovalRow> {
    const a = await repo.find(id)
    if (!a || !visible(principal, a)) throw notFound('approval', id)
    return a
  }

  async function rulesChanged(): Promise<void> {
    deps.policy.invalidate()
    await deps.bus.publish(APPROVAL_RULES_CHANNEL, 'changed').catch((err) => deps.log.warn({ err: (err as Error).message }, 'rules change notice failed'))
  }

  async function storeEvent(runId: string, type: RunEvent['type'], data: Record<string, unknown>): Promise<void> {
    const stored = await deps.events.storeMany(runId, [{ type, data }])
    if (stored) await deps.events.publishMany(stored)
  }

  /** awaiting_approval → queued once nothing is pending, and on the queue (its own job id: the pausing job may linger). */
  async function resumeIfReady(runId: string): Promise<boolean> {
    const attempt = await repo.resumeIfDecided(runId)
    if (attempt === undefined) return false
    try {
      await deps.queue.add(RUN_EXECUTE_JOB, { runId }, { jobId: `${runId}_gate${attempt}` })
    } catch (err) {
      // The row is queued: the reconciler re-sends stale queued runs.
      deps.log.warn({ runId, err: (err as Error).message }, 'resume enqueue failed; the reconciler will retry')
    }
    return true
  }

  async function addRule(principal: ApprovalPrincipal | null, input: NewRule, source: string) {
    const added = await repo.insertRule(
      { id: newId('rule'), match: input.match, action: input.action, reason: input.reason ?? null, source, createdBy: principal?.id ?? null },
      input.index,
    )
    await rulesChanged()
    await record({
      principalId: principal?.id,
      action: 'approval_rule.create',
      target: added.row.id,
      outcome: 'success',
      detail: { index: added.index, action: input.action, source },
    })
    return added
  }

  async function decide(principal: ApprovalPrincipal, id: string, d: Decision): Promise<DecideResult> {
    const current = await getVisible(principal, id)
    if (d.toolCallId !== undefined && d.toolCallId !== current.toolCallId)
      throw conflict(`approval ${id} is for tool call '${current.toolCallId}', not '${d.toolCallId}'`)
    if (d.argsHash !== undefined && d.argsHash !== current.argsHash) throw conflict(`approval ${id} was requested for other arguments`)
    const status = d.decision === 'allow' ? 'allowed' : 'denied'
    const approval = await repo.decide(id, status, principal.id, d.reason ?? null)
    if (!approval) {
      const now = (await repo.find(id))!
      const outcome = now.status === 'pending' ? 'expired' : now.status
      await record({ principalId: principal.id, action: 'approval.decide', target: id, outcome: 'failure', detail: { decision: d.decision, winner: outcome } })
      throw new AppError('approval_decided', `approval ${id} was already ${outcome}${now.decidedBy ? ` by ${now.decidedBy}` : ''}`, { details: { outcome } })
    }
    await record({
      principalId: principal.id,
      action: 'approval.decide',
      target: id,
      outcome: 'success',
      detail: { decision: d.decision, runId: approval.runId, tool: approval.toolName, argsHash: approval.argsHash, remember: d.remember === true },
    })
    await storeEvent(approval.runId, 'approval.resolved', {
      approval_id: approval.id,
      tool_call_id: approval.toolCallId,
      tool_name: approval.toolName,
      status: approval.status,
      decided_by: principal.id,
      ...(approval.reason ? { reason: approval.reason } : {}),
    })
    const rule = d.remember
      ? await addRule(principal, { match: { tool: approval.toolName, agent: approval.agentId }, action: d.decision, reason: d.reason, index: 0 }, 'remember')
      : undefined
    const resumed = await resumeIfReady(approval.runId)
    return { approval, resumed, rule }
  }

  async function ownedRun(principal: ApprovalPrincipal, runId: string) {
    const run = await runsRepo.findById(runId)
    if (!run || !visible(principal, run)) throw notFound('run', runId)
    return run
  }

  return {
    async listPending(principal: ApprovalPrincipal, options: { limit: number; after?: string }): Promise<ApprovalRow[]> {
      return repo.listPending(isAdmin(principal) ? null : principal.id, options.limit, options.after)
    },

    get: getVisible,
    decide,

    /** Decides every pending approval of a run (or the one of `toolCallId`): the seed-001 run-addressed gate. */
    async decideRun(principal: ApprovalPrincipal, runId: string, d: Decision): Promise<{ decided: DecideResult[]; runStatus: string }> {
      const run = await ownedRun(principal, runId)
      let pending = await repo.pendingForRun(run.id)
      if (d.toolCallId !== undefined) pending = pending.filter((a) => a.toolCallId === d.toolCallId)
      if (d.argsHash !== undefined) pending = pending.filter((a) => a.argsHash === d.argsHash)
      if (pending.length === 0) {
        if (d.toolCallId !== undefined && run.status === 'awaiting_approval') throw notFound('pending approval for tool call', d.toolCallId)
        throw conflict(`run ${run.id} is not waiting for a decision (status ${run.status})`)
      }
      const decided: DecideResult[] = []
      for (const a of pending) decided.push(await decide(principal, a.id, { ...d, remember: d.remember && decided.length === 0 }))
      return { decided, runStatus: (await runsRepo.findById(run.id))!.status }
    },

    /**
     * Seed 002's verdicts: decides, among the pending approvals of `runIds` (the runs a connection follows) the
     * caller may see, the ones of these tool call ids. One result per verdict; an unknown id or a lost race is an error entry.
     */
    async decideToolCalls(principal: ApprovalPrincipal, runIds: readonly string[], verdicts: Record<string, 'allow' | 'deny'>, reason?: string) {
      const pending = new Map<string, ApprovalRow>()
      for (const runId of runIds) {
        const run = await runsRepo.findById(runId)
        if (!run || !visible(principal, run)) continue
        for (const a of await repo.pendingForRun(runId)) pending.set(a.toolCallId, a)
      }
      const results: { tool_call_id: string; approvalId?: string; status?: string; error?: string }[] = []
      for (const [toolCallId, verdict] of Object.entries(verdicts)) {
        const a = pending.get(toolCallId)
        if (!a) {
          results.push({ tool_call_id: toolCallId, error: 'not_found' })
          continue
        }
        try {
          const r = await decide(principal, a.id, { decision: verdict, reason })
          results.push({ tool_call_id: toolCallId, approvalId: a.id, status: r.approval.status })
        } catch (err) {
          results.push({ tool_call_id: toolCallId, approvalId: a.id, error: (err as AppError).code ?? 'internal' })
        }
      }
      return results
    },

    /** Re-queues a waiting run whose gates are all decided (a lost resume); 409 while a decision is pending. */
    async resumeRun(principal: ApprovalPrincipal, runId: string): Promise<string> {
      const run = await ownedRun(principal, runId)
      if (run.status !== 'awaiting_approval') throw conflict(`run ${run.id} is not waiting (status ${run.status})`)
      const pending = await repo.pendingForRun(run.id)
      if (pending.length > 0) throw conflict(`run ${run.id} waits for ${pending.length} decision(s): approve or deny them`)
      await resumeIfReady(run.id)
      return (await runsRepo.findById(run.id))!.status
    },

    /** A cancelled run's approvals end with it. */
    async cancelForRun(runId: string): Promise<void> {
      await repo.cancelForRun(runId)
    },

    /** Fails runs whose approval expired (approval_expired); the reconciler job calls it. */
    async expire(): Promise<number> {
      const failed = await repo.expireDue()
      for (const e of failed) await deps.events.publish(e)
      for (const e of failed) await record({ action: 'approval.expire', target: e.runId, outcome: 'failure', detail: { reason: 'approval_expired' } })
      return failed.length
    },

    listRules: () => repo.listRules(),
    addRule: (principal: ApprovalPrincipal, input: NewRule) => addRule(principal, input, 'api'),
    /** Seeds the rules from the configuration when the table is empty (first start). */
    async seedRules(rules: readonly NewRule[]): Promise<number> {
      if (rules.length === 0 || (await repo.countRules()) > 0) return 0
      for (const r of rules) await addRule(null, r, 'config')
      return rules.length
    },
    async deleteRule(principal: ApprovalPrincipal, index: number): Promise<ApprovalRuleRow> {
      const row = await repo.deleteRuleAt(index)
      if (!row) throw notFound('rule at index', String(index))
      await rulesChanged()
      await record({ principalId: principal.id, action: 'approval_rule.delete', target: row.id, outcome: 'success', detail: { index } })
      return row
    },
    argumentsHash,
  }
}
export type ApprovalsService = ReturnType<typeof createApprovalsService>
