import { ACTIVE_RUN_STATUSES, type Db, rowsOf, type ScheduledTaskRow, scheduledTasks, type TaskFireRow, taskFires } from '@openvesper/db'
import { and, desc, eq, lt, or, sql } from 'drizzle-orm'

/**
 * The task tables' queries; the only writer of `scheduled_tasks` and `task_fires`. Every read and edit is by
 * (principal, id): another principal's task does not exist for the caller. Times come from the database clock
 * (`now()`), never from this process's clock.
 */

/** A firing with its run's status (null while no run). */
export interface TaskFireView extends TaskFireRow {
  runStatus: string | null
}

const ACTIVE = sql.join(
  ACTIVE_RUN_STATUSES.map((s) => sql`${s}`),
  sql`, `,
)

/** The database clock in epoch milliseconds. */
const NOW_MS = sql<string>`(extract(epoch from clock_timestamp()) * 1000)::bigint::text`

export type NewTask = Omit<ScheduledTaskRow, 'createdAt' | 'updatedAt' | 'anchorAt' | 'nextFireAt'> & { nextFireAt: Date | null }

export function createTasksRepo(db: Db) {
  const owned = (principalId: string, id: string) => and(eq(scheduledTasks.principalId, principalId), eq(scheduledTasks.id, id))

  return {
    /** The database clock, epoch milliseconds. */
    async now(): Promise<number> {
      const [row] = rowsOf<{ now: string }>(await db.execute(sql`select ${NOW_MS} as now`))
      return Number(row!.now)
    },

    async insert(task: NewTask, anchorAt: Date): Promise<ScheduledTaskRow> {
      const [row] = await db
        .insert(scheduledTasks)
        .values({ ...task, anchorAt, createdAt: anchorAt, updatedAt: anchorAt })
        .returning()
      return row!
    },

    async find(principalId: string, id: string): Promise<ScheduledTaskRow | undefined> {
      const [row] = await db.select().from(scheduledTasks).where(owned(principalId, id))
      return row
    },

    /** The caller's tasks, oldest first, after the (createdAt, id) position of the cursor. */
    async list(principalId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<ScheduledTaskRow[]> {
      const position = after
        ? or(
            lt(sql`${after.createdAt.toISOString()}::timestamptz`, scheduledTasks.createdAt),
            and(eq(scheduledTasks.createdAt, after.createdAt), lt(sql`${after.id}`, scheduledTasks.id)),
          )
        : undefined
      return db
        .select()
        .from(scheduledTasks)
        .where(and(eq(scheduledTasks.principalId, principalId), position))
        .orderBy(scheduledTasks.createdAt, scheduledTasks.id)
        .limit(limit)
    },

    /** Applies `change` to the task locked (`for update`), so it is ordered against a firing of the same task. */
    async edit(
      principalId: string,
      id: string,
      change: (row: ScheduledTaskRow, dbNow: number) => Partial<ScheduledTaskRow> | undefined,
    ): Promise<ScheduledTaskRow | undefined> {
      return db.transaction(async (tx) => {
        const [row] = await tx.select({ task: scheduledTasks, now: NOW_MS }).from(scheduledTasks).where(owned(principalId, id)).for('update')
        if (!row) return undefined
        const patch = change(row.task, Number(row.now))
        if (!patch) return row.task
        const [updated] = await tx
          .update(scheduledTasks)
          .set({ ...patch, updatedAt: sql`now()` })
          .where(eq(scheduledTasks.id, id))
          .returning()
        return updated
      })
    },

    async delete(principalId: string, id: string): Promise<boolean> {
      return (await db.delete(scheduledTasks).where(owned(principalId, id)).returning({ id: scheduledTasks.id })).length > 0
    },

    /**
     * The firing transaction of a scheduled tick: locks the task; when it is enabled and its `next_fire_at` has come
     * (database clock), `decide` says what the tick records and where the schedule goes next, and both are written
     * before the lock is released. `fire_key` is unique, so a tick is recorded once whoever fires it.
     */
    async fireDue(
      taskId: string,
      decide: (
        task: ScheduledTaskRow,
        dbNow: number,
        busy: boolean,
      ) => { fire: Omit<TaskFireRow, 'firedAt' | 'runId' | 'detail'> & { detail?: Record<string, unknown> | null }; nextFireAt: Date | null },
    ): Promise<{ fire?: TaskFireRow; task?: ScheduledTaskRow; dbNow: number }> {
      return db.transaction(async (tx) => {
        const [row] = await tx.select({ task: scheduledTasks, now: NOW_MS }).from(scheduledTasks).where(eq(scheduledTasks.id, taskId)).for('update')
        if (!row) {
          // Through the transaction: on PGlite's single connection a query outside it would wait for it forever.
          const [clock] = rowsOf<{ now: string }>(await tx.execute(sql`select ${NOW_MS} as now`))
          return { dbNow: Number(clock!.now) }
        }
        const dbNow = Number(row.now)
        const { task } = row
        if (!task.enabled || !task.nextFireAt || task.nextFireAt.getTime() > dbNow) return { task, dbNow }
        const [busyRow] = rowsOf<{ busy: boolean }>(
          await tx.execute(sql`select exists (
            select 1 from task_fires f left join runs r on r.id = f.run_id
            where f.task_id = ${taskId} and (f.outcome in ('pending', 'queued') or (f.outcome = 'started' and r.status in (${ACTIVE})))
          ) as busy`),
        )
        const decision = decide(task, dbNow, Boolean(busyRow?.busy))
        const [fire] = await tx
          .insert(taskFires)
          .values({ ...decision.fire, detail: decision.fire.detail ?? null })
          .onConflictDoNothing()
          .returning()
        const [updated] = await tx
          .update(scheduledTasks)
          .set({ nextFireAt: decision.nextFireAt, updatedAt: sql`now()` })
          .where(eq(scheduledTasks.id, taskId))
          .returning()
        return { fire, task: updated, dbNow }
      })
    },

    /** Records a fire-now (its own key; the schedule does not move). */
    async insertFire(fire: Omit<TaskFireRow, 'firedAt' | 'runId' | 'detail' | 'tickAt'>): Promise<TaskFireRow> {
      const [row] = await db
        .insert(taskFires)
        .values({ ...fire, tickAt: sql`now()` })
        .returning()
      return row!
    },

    /** Settles a pending firing (fenced: only from `pending`). */
    async settleFire(fireId: string, outcome: { runId: string } | { failed: string }): Promise<TaskFireRow | undefined> {
      const [row] = await db
        .update(taskFires)
        .set('runId' in outcome ? { outcome: 'started', runId: outcome.runId } : { outcome: 'failed', reason: outcome.failed })
        .where(and(eq(taskFires.id, fireId), eq(taskFires.outcome, 'pending')))
        .returning()
      return row
    },

    /** Moves a queued firing to pending once nothing of its task is active (fenced: one instance wins). */
    async promoteQueued(): Promise<string[]> {
      return rowsOf<{ id: string }>(
        await db.execute(sql`
          update task_fires q set outcome = 'pending'
          where q.id in (
            select distinct on (f.task_id) f.id from task_fires f
            where f.outcome = 'queued'
              and not exists (
                select 1 from task_fires p left join runs r on r.id = p.run_id
                where p.task_id = f.task_id and (p.outcome = 'pending' or (p.outcome = 'started' and r.status in (${ACTIVE})))
              )
            order by f.task_id, f.fired_at, f.id
          ) and q.outcome = 'queued'
          returning q.id`),
      ).map((r) => r.id)
    },

    async fireById(fireId: string): Promise<TaskFireRow | undefined> {
      const [row] = await db.select().from(taskFires).where(eq(taskFires.id, fireId))
      return row
    },

    /** Pending firings older than `olderThanMs` (their starter died between recording and starting the run). */
    async stalePending(olderThanMs: number, limit: number): Promise<TaskFireRow[]> {
      return db
        .select()
        .from(taskFires)
        .where(and(eq(taskFires.outcome, 'pending'), lt(taskFires.firedAt, sql`now() - ${olderThanMs} * interval '1 millisecond'`)))
        .limit(limit)
    },

    async taskById(id: string): Promise<ScheduledTaskRow | undefined> {
      const [row] = await db.select().from(scheduledTasks).where(eq(scheduledTasks.id, id))
      return row
    },

    /** Enabled tasks whose next tick is at or before `now + withinMs` (database clock), soonest first. */
    async dueWithin(withinMs: number, limit: number): Promise<{ id: string; nextMs: number; nowMs: number }[]> {
      const rows = rowsOf<{ id: string; next_ms: string; now_ms: string }>(
        await db.execute(sql`
          select id, (extract(epoch from next_fire_at) * 1000)::bigint::text as next_ms, ${NOW_MS} as now_ms
          from scheduled_tasks
          where enabled and next_fire_at is not null and next_fire_at <= now() + ${withinMs} * interval '1 millisecond'
          order by next_fire_at limit ${limit}`),
      )
      return rows.map((r) => ({ id: r.id, nextMs: Number(r.next_ms), nowMs: Number(r.now_ms) }))
    },

    /** The newest firings of a task, with their runs' statuses. */
    async history(taskId: string, limit: number): Promise<TaskFireView[]> {
      const rows = await db
        .select({ fire: taskFires, runStatus: sql<string | null>`(select r.status from runs r where r.id = ${taskFires.runId})` })
        .from(taskFires)
        .where(eq(taskFires.taskId, taskId))
        .orderBy(desc(taskFires.firedAt), desc(taskFires.id))
        .limit(limit)
      return rows.map((r) => ({ ...r.fire, runStatus: r.runStatus }))
    },
  }
}
