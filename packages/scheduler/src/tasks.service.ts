import type { ScheduledTaskRow, TaskFireRow, TaskOverlapPolicy } from '@openvesper/db'
import { AppError, invalidRequest, newId, notFound } from '@openvesper/shared'
import type { SchedulerDeps } from './deps.js'
import { checkSchedule, nextFire, nextFires, type Schedule } from './next-fire.js'
import { createTasksRepo, type TaskFireView } from './tasks.repo.js'

export interface TaskPrincipal {
  id: string
}

/** A schedule as the API states it. */
export type ScheduleInput = { kind: 'cron'; cron: string; tz?: string } | { kind: 'every'; everyMs: number } | { kind: 'once'; at: string }

export interface CreateTaskInput {
  name?: string
  agent?: string
  message: string
  sessionKey?: string
  schedule: ScheduleInput
  overlap?: TaskOverlapPolicy
  enabled?: boolean
}

export interface UpdateTaskInput {
  name?: string | null
  message?: string
  schedule?: ScheduleInput
  overlap?: TaskOverlapPolicy
  enabled?: boolean
}

export interface TaskDetail {
  task: ScheduledTaskRow
  nextFireTimes: Date[]
  history: TaskFireView[]
}

const DEFAULT_AGENT = 'main'
const HISTORY_LIMIT = 50
const NEXT_TIMES = 5
/** A pending firing older than this lost its starter (the process died between recording and starting). */
const STALE_PENDING_MS = 15_000

/** The stored schedule of a task. */
export function scheduleOf(task: Pick<ScheduledTaskRow, 'kind' | 'cron' | 'tz' | 'everyMs' | 'at' | 'anchorAt'>): Schedule {
  if (task.kind === 'cron') return { kind: 'cron', cron: task.cron!, tz: task.tz ?? 'UTC' }
  if (task.kind === 'every') return { kind: 'every', everyMs: task.everyMs!, anchorAt: task.anchorAt.getTime() }
  return { kind: 'once', at: task.at!.getTime() }
}

/** How many ticks after `tick` are at or before `now` (capped: a long outage is reported as "1000 or more"). */
function countPassed(schedule: Schedule, tick: number, now: number): number {
  let count = 0
  let from = tick
  while (count < 1000) {
    const next = nextFire(schedule, from)
    if (next === undefined || next > now) break
    count++
    from = next
  }
  return count
}

/** The tick identity: the same tick of the same task is one firing, whichever instance fires it. */
export const tickKey = (taskId: string, tickMs: number) => `task:${taskId}:${new Date(tickMs).toISOString()}`

/**
 * Tasks: CRUD for their owner, and the firing engine (a tick's wake-up job, the sweep, fire-now). Every firing is a
 * row in `task_fires` keyed by its tick (unique), written in the transaction that moves the schedule on; the run it
 * starts uses that key as its idempotency key, so a tick starts at most one run even when several instances fire it
 * or a starter dies half-way (the sweep finishes a pending firing with the same key).
 */
export function createTasksService(deps: SchedulerDeps) {
  const { db, log, options } = deps
  const repo = createTasksRepo(db)

  function toSchedule(input: ScheduleInput, anchorAt: number, dbNow: number): Schedule {
    const schedule: Schedule =
      input.kind === 'cron'
        ? { kind: 'cron', cron: input.cron.trim(), tz: input.tz ?? 'UTC' }
        : input.kind === 'every'
          ? { kind: 'every', everyMs: input.everyMs, anchorAt }
          : { kind: 'once', at: Date.parse(input.at) }
    const problem = checkSchedule(schedule, { minIntervalMs: options.minIntervalMs, now: dbNow })
    if (problem) throw invalidRequest(`invalid schedule: ${problem.reason}`, [{ path: problem.path, message: problem.reason }])
    return schedule
  }

  const scheduleColumns = (s: Schedule) => ({
    kind: s.kind,
    cron: s.kind === 'cron' ? s.cron : null,
    tz: s.kind === 'cron' ? s.tz : null,
    everyMs: s.kind === 'every' ? s.everyMs : null,
    at: s.kind === 'once' ? new Date(s.at) : null,
  })

  async function get(principal: TaskPrincipal, id: string): Promise<ScheduledTaskRow> {
    const task = await repo.find(principal.id, id)
    if (!task) throw notFound('task', id)
    return task
  }

  async function arm(task: ScheduledTaskRow | undefined, dbNow: number): Promise<void> {
    if (!task?.enabled || !task.nextFireAt) return
    const tick = task.nextFireAt.getTime()
    try {
      await deps.wakeUps.arm(task.id, tick, Math.max(0, tick - dbNow))
    } catch (err) {
      // The sweep fires a due tick that has no wake-up.
      log.warn({ taskId: task.id, err: (err as Error).message }, 'could not arm the wake-up of a task; the sweep will fire it')
    }
  }

  /** Starts the run of a pending firing and records its run (or why it could not start). */
  async function start(task: ScheduledTaskRow, fire: TaskFireRow): Promise<TaskFireRow> {
    try {
      const { runId } = await deps.startRun({
        principalId: task.principalId,
        agentId: task.agentId,
        message: task.message,
        ...(task.sessionKey ? { sessionKey: task.sessionKey } : {}),
        idempotencyKey: fire.fireKey,
        lane: 'cron',
      })
      return (await repo.settleFire(fire.id, { runId })) ?? fire
    } catch (err) {
      const reason = err instanceof AppError ? `${err.code}: ${err.message}` : (err as Error).message
      log.warn({ taskId: task.id, fireId: fire.id, reason }, 'a task firing could not start its run')
      return (await repo.settleFire(fire.id, { failed: reason })) ?? fire
    }
  }

  /** Fires the task's due tick, if it has one (database clock); then arms the wake-up of its next tick. */
  async function fireDue(taskId: string): Promise<TaskFireRow | undefined> {
    const { fire, task, dbNow } = await repo.fireDue(taskId, (t, now, busy) => {
      const schedule = scheduleOf(t)
      const tick = t.nextFireAt!.getTime()
      const late = now - tick
      // Every tick that passed is consumed: the schedule goes to its first tick after now (no backlog, no burst).
      const next = nextFire(schedule, Math.max(tick, now))
      const passed = countPassed(schedule, tick, now)
      const base = { id: newId('taskFire'), taskId: t.id, fireKey: tickKey(t.id, tick), trigger: 'schedule' as const, tickAt: new Date(tick) }
      const skippedNote = passed > 0 ? ` (${passed} later tick(s) also passed and were skipped)` : ''
      const decision =
        late > options.catchUpMs
          ? {
              outcome: 'missed' as const,
              reason: `no scheduler ran at the tick: found ${late} ms late, past the catch-up window of ${options.catchUpMs} ms${skippedNote}`,
            }
          : busy && t.overlap === 'skip'
            ? { outcome: 'skipped' as const, reason: `overlap policy skip: the previous firing is still running${skippedNote}` }
            : busy
              ? { outcome: 'queued' as const, reason: `overlap policy queue: waits for the previous firing${skippedNote}` }
              : { outcome: 'pending' as const, reason: passed > 0 ? `fired ${late} ms late${skippedNote}` : null }
      return {
        fire: { ...base, ...decision, runId: null, detail: passed > 0 ? { skippedTicks: passed } : null },
        nextFireAt: next === undefined ? null : new Date(next),
      }
    })
    await arm(task, dbNow)
    if (!fire || !task) return fire
    if (fire.outcome === 'pending') return start(task, fire)
    if (fire.outcome === 'missed') log.warn({ taskId, tickAt: fire.tickAt.toISOString(), reason: fire.reason }, 'a task tick was missed')
    return fire
  }

  return {
    async create(principal: TaskPrincipal, input: CreateTaskInput): Promise<ScheduledTaskRow> {
      const agentId = input.agent ?? DEFAULT_AGENT
      if (!deps.agentExists(agentId)) throw invalidRequest(`unknown agent '${agentId}'`, [{ path: '/agent', message: 'no such agent' }])
      const dbNow = await repo.now()
      const schedule = toSchedule(input.schedule, dbNow, dbNow)
      const enabled = input.enabled ?? true
      const next = enabled ? nextFire(schedule, dbNow) : undefined
      const task = await repo.insert(
        {
          id: newId('task'),
          principalId: principal.id,
          name: input.name ?? null,
          agentId,
          message: input.message,
          sessionKey: input.sessionKey ?? null,
          ...scheduleColumns(schedule),
          overlap: input.overlap ?? 'skip',
          enabled,
          nextFireAt: next === undefined ? null : new Date(next),
        },
        new Date(dbNow),
      )
      await arm(task, dbNow)
      return task
    },

    async list(principal: TaskPrincipal, page: { cursor?: string; limit?: number }) {
      const limit = page.limit ?? 50
      let after: { createdAt: Date; id: string } | undefined
      if (page.cursor) {
        const [ms, id] = Buffer.from(page.cursor, 'base64url').toString('utf8').split('|')
        if (!ms || !id || !Number.isFinite(Number(ms))) throw invalidRequest('invalid cursor', [{ path: '/cursor', message: 'not a cursor of this list' }])
        after = { createdAt: new Date(Number(ms)), id }
      }
      const rows = await repo.list(principal.id, limit + 1, after)
      const items = rows.slice(0, limit)
      const last = items[items.length - 1]
      const nextCursor = rows.length > limit && last ? Buffer.from(`${last.createdAt.getTime()}|${last.id}`).toString('base64url') : null
      return { items, nextCursor }
    },

    get,

    async detail(principal: TaskPrincipal, id: string): Promise<TaskDetail> {
      const task = await get(principal, id)
      const nextFireTimes =
        task.nextFireAt && task.enabled ? [task.nextFireAt.getTime(), ...nextFires(scheduleOf(task), task.nextFireAt.getTime(), NEXT_TIMES - 1)] : []
      return { task, nextFireTimes: nextFireTimes.map((ms) => new Date(ms)), history: await repo.history(task.id, HISTORY_LIMIT) }
    },

    /** Edits a task; a new schedule fires only on its own times (the next tick is recomputed from now). */
    async update(principal: TaskPrincipal, id: string, input: UpdateTaskInput): Promise<ScheduledTaskRow> {
      let problem: AppError | undefined
      let dbNowSeen = 0
      const task = await repo.edit(principal.id, id, (row, dbNow) => {
        dbNowSeen = dbNow
        try {
          const schedule = input.schedule ? toSchedule(input.schedule, dbNow, dbNow) : scheduleOf(row)
          const enabled = input.enabled ?? row.enabled
          const reschedule = input.schedule !== undefined || (enabled && !row.enabled)
          const next = reschedule ? nextFire(schedule, dbNow) : undefined
          return {
            ...(input.name !== undefined ? { name: input.name } : {}),
            ...(input.message !== undefined ? { message: input.message } : {}),
            ...(input.overlap !== undefined ? { overlap: input.overlap } : {}),
            ...(input.schedule ? { ...scheduleColumns(schedule), anchorAt: new Date(dbNow) } : {}),
            enabled,
            ...(!enabled ? { nextFireAt: null } : reschedule ? { nextFireAt: next === undefined ? null : new Date(next) } : {}),
          }
        } catch (err) {
          problem = err as AppError
          return undefined
        }
      })
      if (problem) throw problem
      if (!task) throw notFound('task', id)
      await arm(task, dbNowSeen)
      return task
    },

    async delete(principal: TaskPrincipal, id: string): Promise<void> {
      if (!(await repo.delete(principal.id, id))) throw notFound('task', id)
    },

    /** Stops firing; the ticks while paused are not fired later. */
    async pause(principal: TaskPrincipal, id: string): Promise<ScheduledTaskRow> {
      return this.update(principal, id, { enabled: false })
    },

    /** Fires again from the first tick after now: nothing missed while paused is replayed. */
    async resume(principal: TaskPrincipal, id: string): Promise<ScheduledTaskRow> {
      return this.update(principal, id, { enabled: true })
    },

    /** Runs the task now, under its own key; the next scheduled tick does not move. Works on a paused task too. */
    async fireNow(principal: TaskPrincipal, id: string): Promise<TaskFireRow> {
      const task = await get(principal, id)
      const fireId = newId('taskFire')
      const fire = await repo.insertFire({
        id: fireId,
        taskId: task.id,
        fireKey: `task:${task.id}:manual:${fireId}`,
        trigger: 'manual',
        outcome: 'pending',
        reason: null,
      })
      return start(task, fire)
    },

    async fireView(fireId: string): Promise<TaskFireView | undefined> {
      const fire = await repo.fireById(fireId)
      if (!fire) return undefined
      return (await repo.history(fire.taskId, HISTORY_LIMIT)).find((f) => f.id === fireId)
    },

    /** Arms the wake-up of a task changed outside this service (a reloaded heartbeat). */
    async rearm(taskId: string): Promise<void> {
      await arm(await repo.taskById(taskId), await repo.now())
    },

    /** The `scheduler.fire` job: the wake-up of one tick. */
    fireDue,

    /**
     * The `scheduler.sweep` job: fires due ticks (a wake-up lost with a restarted embedded process, or never armed),
     * arms the wake-ups of ticks coming within two sweeps, starts queued firings whose predecessor finished, and
     * finishes pending firings whose starter died.
     */
    async sweep(): Promise<void> {
      const soon = await repo.dueWithin(options.sweepMs * 2, 1000)
      for (const { id, nextMs, nowMs } of soon) {
        if (nextMs <= nowMs) await fireDue(id)
        else await deps.wakeUps.arm(id, nextMs, nextMs - nowMs).catch(() => {})
      }
      for (const fireId of await repo.promoteQueued()) {
        const fire = await repo.fireById(fireId)
        const task = fire && (await repo.taskById(fire.taskId))
        if (fire && task) await start(task, fire)
      }
      for (const fire of await repo.stalePending(STALE_PENDING_MS, 100)) {
        const task = await repo.taskById(fire.taskId)
        if (task) await start(task, fire)
      }
    },
  }
}
export type TasksService = ReturnType<typeof createTasksService>
