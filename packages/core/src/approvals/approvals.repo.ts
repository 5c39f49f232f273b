import { createHash } from 'node:crypto'
import {
  type ApprovalAction,
  type ApprovalKind,
  type ApprovalRow,
  type ApprovalRuleMatch,
  type ApprovalRuleRow,
  type ApprovalStatus,
  approvalRules,
  type CheckpointCall,
  type Db,
  rawSql,
  type RunUsage,
} from '@openvesper/db'
import { asc, gte, sql } from 'drizzle-orm'
import { appendEventsSql, numberedEvents, toIso } from '../runs/event-sql.js'
import type { EventItem, RunEvent, RunEventType } from '../runs/event-types.js'

/** The hash an approval binds to: SHA-256 of the arguments exactly as the model sent them. */
export const argumentsHash = (args: string) => createHash('sha256').update(args).digest('hex')

export interface NewApproval {
  id: string
  kind: ApprovalKind
  tool_call_id: string
  tool_name: string
  args_hash: string
  arguments: string
  expires_ms: number
}

export interface Checkpoint {
  runId: string
  attempt: number
  step: number
  messages: unknown[]
  calls: CheckpointCall[]
  usage: RunUsage
}

/**
 * running → awaiting_approval, fenced on the attempt, in one statement: the lease is given up, the pending events and
 * the gate's events are stored, the approvals inserted and the checkpoint written. No row: the fence was lost.
 */
const PAUSE_SQL = `
  with u as (
    update runs set status = 'awaiting_approval', lease_owner = null, lease_expires_at = null, updated_at = now(),
      last_event_seq = last_event_seq + $3::int
    where id = $1 and attempt = $2 and status = 'running'
    returning id, principal_id, agent_id, last_event_seq
  ), a as (
    insert into approvals (id, kind, run_id, principal_id, agent_id, step, tool_call_id, tool_name, args_hash, arguments, status, expires_at)
    select x.id, x.kind, u.id, u.principal_id, u.agent_id, $5::int, x.tool_call_id, x.tool_name, x.args_hash, x.arguments, 'pending',
      now() + x.expires_ms * interval '1 millisecond'
    from u, jsonb_to_recordset($6::jsonb) as x(id text, kind text, tool_call_id text, tool_name text, args_hash text, arguments text, expires_ms bigint)
    returning id
  ), c as (
    insert into run_checkpoints (run_id, attempt, step, messages, calls, usage)
    select u.id, $2, $5, $7::jsonb, $8::jsonb, $9::jsonb from u
    on conflict (run_id) do update set attempt = excluded.attempt, step = excluded.step, messages = excluded.messages,
      calls = excluded.calls, usage = excluded.usage, created_at = now()
    returning run_id
  ) ${appendEventsSql('$1', '$4', '$3')}`

/**
 * Pending approvals past their time → expired, and their runs (still waiting) → failed with approval_expired and
 * its run.failed event, in one statement.
 */
const EXPIRE_SQL = `
  with x as (
    update approvals set status = 'expired', decided_at = now()
    where id in (select id from approvals where status = 'pending' and expires_at < now() order by expires_at limit $1 for update skip locked)
    returning run_id
  ), o as (
    update approvals set status = 'cancelled', decided_at = now()
    where run_id in (select run_id from x) and status = 'pending'
    returning run_id
  ), u as (
    update runs set status = 'failed', failure_reason = 'approval_expired', error_message = 'a pending approval expired',
      finished_at = now(), updated_at = now(), last_event_seq = last_event_seq + 1
    where id in (select run_id from x) and status = 'awaiting_approval'
    returning id, last_event_seq
  )
  insert into run_events (run_id, seq, type, data)
  select u.id, u.last_event_seq, 'run.failed',
    jsonb_build_object('reason', 'approval_expired', 'message', 'a pending approval expired', 'output', null, 'partial', false)
  from u
  returning run_id, seq, type, data, created_at`

const APPROVAL_COLUMNS = `id, kind, run_id, principal_id, agent_id, step, tool_call_id, tool_name, args_hash, arguments, status, reason,
  decided_by, decided_at, expires_at, created_at`

export function toApprovalRow(r: Record<string, unknown>): ApprovalRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)))
  return {
    id: String(r.id),
    kind: r.kind as ApprovalKind,
    runId: String(r.run_id),
    principalId: String(r.principal_id),
    agentId: String(r.agent_id),
    step: Number(r.step),
    toolCallId: String(r.tool_call_id),
    toolName: String(r.tool_name),
    argsHash: String(r.args_hash),
    arguments: String(r.arguments),
    status: r.status as ApprovalStatus,
    reason: (r.reason as string | null) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: date(r.decided_at),
    expiresAt: date(r.expires_at)!,
    createdAt: date(r.created_at)!,
  }
}

const asJson = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T))

/** Approval, rule and checkpoint queries (core owns these tables). */
export function createApprovalsRepo(db: Db) {
  const raw = rawSql(db)
  return {
    /** See PAUSE_SQL; the stored events (publish them), or undefined when this executor lost the run. */
    async pause(input: {
      runId: string
      attempt: number
      step: number
      events: readonly EventItem[]
      approvals: readonly NewApproval[]
      messages: unknown[]
      calls: CheckpointCall[]
      usage: RunUsage
    }): Promise<RunEvent[] | undefined> {
      const rows = await raw.query<{ seq: number; created_at: unknown }>(PAUSE_SQL, [
        input.runId,
        input.attempt,
        input.events.length,
        JSON.stringify(input.events),
        input.step,
        JSON.stringify(input.approvals),
        JSON.stringify(input.messages),
        JSON.stringify(input.calls),
        JSON.stringify(input.usage),
      ])
      return rows.length === 0 ? undefined : numberedEvents(input.runId, input.events, rows)
    },

    async checkpoint(runId: string): Promise<Checkpoint | undefined> {
      const [r] = await raw.query('select run_id, attempt, step, messages, calls, usage from run_checkpoints where run_id = $1', [runId])
      if (!r) return undefined
      return {
        runId,
        attempt: Number(r.attempt),
        step: Number(r.step),
        messages: asJson(r.messages),
        calls: asJson(r.calls),
        usage: asJson(r.usage),
      }
    },

    async find(id: string): Promise<ApprovalRow | undefined> {
      const [r] = await raw.query(`select ${APPROVAL_COLUMNS} from approvals where id = $1`, [id])
      return r ? toApprovalRow(r) : undefined
    },

    async forStep(runId: string, step: number): Promise<ApprovalRow[]> {
      const rows = await raw.query(`select ${APPROVAL_COLUMNS} from approvals where run_id = $1 and step = $2`, [runId, step])
      return rows.map(toApprovalRow)
    },

    async pendingForRun(runId: string): Promise<ApprovalRow[]> {
      const rows = await raw.query(`select ${APPROVAL_COLUMNS} from approvals where run_id = $1 and status = 'pending' order by created_at, id`, [runId])
      return rows.map(toApprovalRow)
    },

    /**
     * Pending approvals of waiting runs in id order (ids start with their time), after the cursor id; `principalId`
     * null: every principal's (admin).
     */
    async listPending(principalId: string | null, limit: number, after?: string): Promise<ApprovalRow[]> {
      const rows = await raw.query(
        `select ${APPROVAL_COLUMNS.replace(/(\w+)/g, 'a.$1')} from approvals a join runs r on r.id = a.run_id
         where a.status = 'pending' and r.status = 'awaiting_approval' and ($1::text is null or a.principal_id = $1)
           and ($3::text is null or a.id > $3)
         order by a.id limit $2`,
        [principalId, limit, after ?? null],
      )
      return rows.map(toApprovalRow)
    },

    /** pending → `status`, once: the row when this call decided it, else undefined (decided, expired or missing). */
    async decide(id: string, status: 'allowed' | 'denied', decidedBy: string, reason: string | null): Promise<ApprovalRow | undefined> {
      const [r] = await raw.query(
        `update approvals set status = $2, decided_by = $3, reason = $4, decided_at = now()
         where id = $1 and status = 'pending' and expires_at > now()
         returning ${APPROVAL_COLUMNS}`,
        [id, status, decidedBy, reason],
      )
      return r ? toApprovalRow(r) : undefined
    },

    /** Every pending approval of a run → cancelled (the run was aborted). */
    async cancelForRun(runId: string): Promise<number> {
      const rows = await raw.query(`update approvals set status = 'cancelled', decided_at = now() where run_id = $1 and status = 'pending' returning id`, [
        runId,
      ])
      return rows.length
    },

    /**
     * awaiting_approval → queued once no approval of the run is pending (run after each decision: the last decider's
     * statement sees every decision). The attempt that paused, or undefined when the run is not (or no longer) ready.
     */
    async resumeIfDecided(runId: string): Promise<number | undefined> {
      const [r] = await raw.query<{ attempt: number }>(
        `update runs set status = 'queued', updated_at = now()
         where id = $1 and status = 'awaiting_approval' and not exists (select 1 from approvals where run_id = $1 and status = 'pending')
         returning attempt`,
        [runId],
      )
      return r ? Number(r.attempt) : undefined
    },

    /** See EXPIRE_SQL: the run.failed events written. */
    async expireDue(limit = 500): Promise<RunEvent[]> {
      const rows = await raw.query<Record<string, unknown>>(EXPIRE_SQL, [limit])
      return rows.map((r) => ({
        runId: String(r.run_id),
        seq: Number(r.seq),
        type: r.type as RunEventType,
        data: r.data as Record<string, unknown>,
        createdAt: toIso(r.created_at),
      }))
    },

    async listRules(): Promise<ApprovalRuleRow[]> {
      return db.select().from(approvalRules).orderBy(asc(approvalRules.position), asc(approvalRules.createdAt))
    },

    /** Inserts a rule at rank `index` (clamped; undefined: last), moving the later ones down. */
    async insertRule(
      rule: { id: string; match: ApprovalRuleMatch; action: ApprovalAction; reason: string | null; source: string; createdBy: string | null },
      index?: number,
    ): Promise<{ row: ApprovalRuleRow; index: number }> {
      return db.transaction(async (tx) => {
        // One writer of the order at a time (a transaction-scoped advisory lock on the rule table).
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext('approval_rules'))`)
        const all = await tx.select({ id: approvalRules.id }).from(approvalRules).orderBy(asc(approvalRules.position), asc(approvalRules.createdAt))
        const at = index === undefined ? all.length : Math.max(0, Math.min(index, all.length))
        // Renumber densely so positions equal ranks, then make room.
        for (const [i, r] of all.entries()) await tx.execute(sql`update approval_rules set position = ${i >= at ? i + 1 : i} where id = ${r.id}`)
        const [row] = await tx
          .insert(approvalRules)
          .values({ ...rule, position: at })
          .returning()
        return { row: row!, index: at }
      })
    },

    /** Deletes the rule at rank `index`; undefined when there is none. */
    async deleteRuleAt(index: number): Promise<ApprovalRuleRow | undefined> {
      return db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext('approval_rules'))`)
        const all = await tx.select().from(approvalRules).orderBy(asc(approvalRules.position), asc(approvalRules.createdAt))
        const victim = all[index]
        if (!victim) return undefined
        await tx.execute(sql`delete from approval_rules where id = ${victim.id}`)
        await tx.execute(sql`update approval_rules set position = position - 1 where ${gte(approvalRules.position, victim.position)}`)
        return victim
      })
    },

    async countRules(): Promise<number> {
      const [r] = await raw.query<{ n: number }>('select count(*)::int as n from approval_rules')
      return Number(r?.n ?? 0)
    },
  }
}
