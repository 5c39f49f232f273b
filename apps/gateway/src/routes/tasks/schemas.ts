import type { ScheduledTaskRow } from '@openvesper/db'
import type { TaskDetail, TaskFireView } from '@openvesper/scheduler'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern, PageQuery } from '../../http/params.js'

const iso = (d: Date) => d.toISOString()

const CronSchedule = Type.Object(
  {
    kind: Type.Literal('cron'),
    cron: Type.String({ minLength: 1, maxLength: 200, description: "Five fields ('min hour day month weekday') or six (seconds first)." }),
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "IANA time zone the pattern is read in (default 'UTC')." })),
  },
  { additionalProperties: false },
)
const EverySchedule = Type.Object(
  {
    kind: Type.Literal('every'),
    everyMs: Type.Integer({
      minimum: 1,
      maximum: 31_536_000_000,
      description: 'Fixed interval in milliseconds (at least the configured minimum, default 1000).',
    }),
  },
  { additionalProperties: false },
)
const OnceSchedule = Type.Object(
  { kind: Type.Literal('once'), at: Type.String({ format: 'date-time', description: 'The single time the task fires (in the future).' }) },
  { additionalProperties: false },
)

/** When a task fires: a cron pattern in a time zone, a fixed interval, or a single time. */
export const TaskScheduleSchema = Type.Union([CronSchedule, EverySchedule, OnceSchedule], {
  $id: 'TaskSchedule',
  description: 'A cron expression with an IANA time zone, a fixed interval, or a single time.',
})

const OverlapSchema = Type.Union([Type.Literal('skip'), Type.Literal('queue')], {
  description: 'When a tick comes while the previous firing still runs: `skip` it (recorded as skipped) or `queue` it behind.',
})

export const TaskSchema = Type.Object(
  {
    id: Type.String({ description: 'Task id (`tsk_…`).' }),
    name: Type.Union([Type.String(), Type.Null()]),
    agent: Type.String(),
    message: Type.String({ description: 'The message each firing sends the agent.' }),
    sessionKey: Type.Union([Type.String(), Type.Null()], { description: 'The session the runs go to; null: a run without a session per firing.' }),
    schedule: ref(TaskScheduleSchema),
    overlap: OverlapSchema,
    enabled: Type.Boolean({ description: 'False while paused.' }),
    nextFireAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'The next tick; null while paused or once a single time fired.',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Task', additionalProperties: false },
)

export const TaskFireSchema = Type.Object(
  {
    id: Type.String({ description: 'Firing id (`tfr_…`).' }),
    trigger: Type.Union([Type.Literal('schedule'), Type.Literal('manual')], { description: '`schedule`: a tick; `manual`: POST /tasks/{id}/fire.' }),
    tickAt: Type.String({ format: 'date-time', description: 'The tick this firing is for (a fire-now: when it was asked).' }),
    firedAt: Type.String({ format: 'date-time', description: 'When it was recorded (database clock).' }),
    outcome: Type.Union(
      [Type.Literal('pending'), Type.Literal('started'), Type.Literal('queued'), Type.Literal('skipped'), Type.Literal('missed'), Type.Literal('failed')],
      {
        description:
          '`started`: a run was created (`runId`); `queued`: waits for the previous firing; `skipped`, `missed`, `failed`: no run, see `reason`; `pending`: being started.',
      },
    ),
    reason: Type.Union([Type.String(), Type.Null()]),
    runId: Type.Union([Type.String(), Type.Null()]),
    runStatus: Type.Union([Type.String(), Type.Null()], { description: "The run's status now." }),
  },
  { $id: 'TaskFire', additionalProperties: false },
)

export const TaskDetailSchema = Type.Object(
  {
    ...TaskSchema.properties,
    nextFireTimes: Type.Array(Type.String({ format: 'date-time' }), { description: 'The next five ticks (none while paused).' }),
    history: Type.Array(ref(TaskFireSchema), { description: 'The newest 50 firings, newest first.' }),
  },
  { $id: 'TaskDetail', additionalProperties: false },
)

export const TaskListSchema = Type.Object(
  { items: Type.Array(ref(TaskSchema)), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'TaskList', additionalProperties: false },
)

const Text = (max: number, description?: string) => Type.String({ minLength: 1, maxLength: max, ...(description ? { description } : {}) })

export const CreateTaskBody = Type.Object(
  {
    name: Type.Optional(Text(200)),
    agent: Type.Optional(Text(100, "The agent that runs (default 'main').")),
    message: Text(100_000),
    sessionKey: Type.Optional(Text(512, 'Run every firing in this session.')),
    schedule: ref(TaskScheduleSchema),
    overlap: Type.Optional(OverlapSchema),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const UpdateTaskBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Text(200), Type.Null()])),
    message: Type.Optional(Text(100_000)),
    schedule: Type.Optional(ref(TaskScheduleSchema)),
    overlap: Type.Optional(OverlapSchema),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)

export const TaskParams = Type.Object({ id: idPattern('task') }, { additionalProperties: false })
export const ListTasksQuery = Type.Object(PageQuery, { additionalProperties: false })

export const taskComponents = [TaskScheduleSchema, TaskSchema, TaskFireSchema, TaskDetailSchema, TaskListSchema]

type Task = Static<typeof TaskSchema>

export function toTask(row: ScheduledTaskRow): Task {
  const schedule =
    row.kind === 'cron'
      ? { kind: 'cron' as const, cron: row.cron!, tz: row.tz ?? 'UTC' }
      : row.kind === 'every'
        ? { kind: 'every' as const, everyMs: row.everyMs! }
        : { kind: 'once' as const, at: iso(row.at!) }
  return {
    id: row.id,
    name: row.name,
    agent: row.agentId,
    message: row.message,
    sessionKey: row.sessionKey,
    schedule,
    overlap: row.overlap,
    enabled: row.enabled,
    nextFireAt: row.nextFireAt && row.enabled ? iso(row.nextFireAt) : null,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  }
}

export const toTaskFire = (f: Omit<TaskFireView, 'runStatus'> & { runStatus?: string | null }): Static<typeof TaskFireSchema> => ({
  id: f.id,
  trigger: f.trigger,
  tickAt: iso(f.tickAt),
  firedAt: iso(f.firedAt),
  outcome: f.outcome,
  reason: f.reason,
  runId: f.runId,
  runStatus: f.runStatus ?? null,
})

export const toTaskDetail = (d: TaskDetail) => ({ ...toTask(d.task), nextFireTimes: d.nextFireTimes.map(iso), history: d.history.map(toTaskFire) })
