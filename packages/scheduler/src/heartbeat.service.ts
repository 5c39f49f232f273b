import { type Db, rowsOf, scheduledTasks } from '@openvesper/db'
import { and, eq, notInArray, sql } from 'drizzle-orm'
import type { SchedulerDeps } from './deps.js'
import { nextFire } from './next-fire.js'

/** An agent's heartbeat as its config states it. */
export interface HeartbeatConfig {
  agentId: string
  everyMs: number
  instructions: string
}

/** The principal heartbeat runs belong to (no token authenticates as it). */
export const HEARTBEAT_PRINCIPAL = 'system_heartbeat'
const taskIdOf = (agentId: string) => `heartbeat_${agentId}`

export interface HeartbeatStatus {
  agentId: string
  everyMs: number
  instructions: string
  lastBeatAt: Date | null
  lastOutcome: string | null
  lastRunId: string | null
  lastRunStatus: string | null
  nextBeatAt: Date | null
}

/**
 * Heartbeats: one periodic run per agent that has one in its config. Each heartbeat is a fixed-interval task of the
 * heartbeat principal (deterministic id `heartbeat_<agent>`), so it fires through the tasks engine — exactly once per
 * tick across instances. `reload` re-reads the agents' config (injected) and reconciles the rows: a changed interval
 * is re-anchored at now and fires only on its new times; an agent whose heartbeat went is removed.
 */
export function createHeartbeatService(
  deps: Pick<SchedulerDeps, 'db' | 'log'> & { load: () => HeartbeatConfig[]; onChanged: (taskId: string) => Promise<void> },
) {
  const db: Db = deps.db
  return {
    async reload(): Promise<HeartbeatConfig[]> {
      const configs = deps.load()
      for (const hb of configs) {
        const id = taskIdOf(hb.agentId)
        const changed = await db.transaction(async (tx) => {
          const [nowRow] = rowsOf<{ now: string }>(await tx.execute(sql`select (extract(epoch from clock_timestamp()) * 1000)::bigint::text as now`))
          const now = Number(nowRow!.now)
          const next = new Date(nextFire({ kind: 'every', everyMs: hb.everyMs, anchorAt: now }, now)!)
          const inserted = await tx
            .insert(scheduledTasks)
            .values({
              id,
              principalId: HEARTBEAT_PRINCIPAL,
              name: `heartbeat:${hb.agentId}`,
              agentId: hb.agentId,
              message: hb.instructions,
              kind: 'every',
              everyMs: hb.everyMs,
              anchorAt: new Date(now),
              overlap: 'skip',
              enabled: true,
              nextFireAt: next,
            })
            .onConflictDoNothing()
            .returning({ id: scheduledTasks.id })
          if (inserted.length > 0) return true
          const [existing] = await tx.select().from(scheduledTasks).where(eq(scheduledTasks.id, id)).for('update')
          if (!existing) return false
          const sameInterval = existing.everyMs === hb.everyMs && existing.enabled
          if (sameInterval && existing.message === hb.instructions) return false
          await tx
            .update(scheduledTasks)
            .set({
              message: hb.instructions,
              ...(sameInterval ? {} : { everyMs: hb.everyMs, anchorAt: new Date(now), nextFireAt: next, enabled: true }),
              updatedAt: sql`now()`,
            })
            .where(eq(scheduledTasks.id, id))
          return !sameInterval
        })
        if (changed) await deps.onChanged(id)
      }
      const keep = configs.map((c) => taskIdOf(c.agentId))
      await db
        .delete(scheduledTasks)
        .where(and(eq(scheduledTasks.principalId, HEARTBEAT_PRINCIPAL), keep.length > 0 ? notInArray(scheduledTasks.id, keep) : undefined))
      deps.log.info({ heartbeats: configs.map((c) => ({ agent: c.agentId, everyMs: c.everyMs })) }, 'heartbeats loaded')
      return configs
    },

    /** Per agent with a heartbeat: its last beat (when, outcome, run) and the next one. */
    async status(): Promise<HeartbeatStatus[]> {
      const rows = rowsOf<{
        agent_id: string
        every_ms: string
        message: string
        next_fire_at: string | null
        fired_at: string | null
        outcome: string | null
        run_id: string | null
        run_status: string | null
      }>(
        await db.execute(sql`
          select t.agent_id, t.every_ms::text as every_ms, t.message, t.next_fire_at::text as next_fire_at,
                 f.fired_at::text as fired_at, f.outcome, f.run_id, (select r.status from runs r where r.id = f.run_id) as run_status
          from scheduled_tasks t
          left join lateral (select * from task_fires f where f.task_id = t.id order by f.fired_at desc, f.id desc limit 1) f on true
          where t.principal_id = ${HEARTBEAT_PRINCIPAL}
          order by t.agent_id`),
      )
      return rows.map((r) => ({
        agentId: r.agent_id,
        everyMs: Number(r.every_ms),
        instructions: r.message,
        lastBeatAt: r.fired_at ? new Date(r.fired_at) : null,
        lastOutcome: r.outcome,
        lastRunId: r.run_id,
        lastRunStatus: r.run_status,
        nextBeatAt: r.next_fire_at ? new Date(r.next_fire_at) : null,
      }))
    },
  }
}
export type HeartbeatService = ReturnType<typeof createHeartbeatService>
