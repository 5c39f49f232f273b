import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

export const TASK_SCHEDULE_KINDS = ['cron', 'every', 'once'] as const
export type TaskScheduleKind = (typeof TASK_SCHEDULE_KINDS)[number]
export const TASK_OVERLAP_POLICIES = ['skip', 'queue'] as const
export type TaskOverlapPolicy = (typeof TASK_OVERLAP_POLICIES)[number]

/**
 * A task an agent runs on a schedule: a cron pattern in an IANA zone, a fixed interval (on the grid of `anchor_at`),
 * or a single time. `next_fire_at` is the tick the scheduler fires next (null: paused, or a single time already
 * fired); it is computed from the database clock and moved forward only by the firing transaction (row locked).
 * @writer packages/scheduler — tasks.repo.ts creates, edits and fires tasks
 */
export const scheduledTasks = pgTable(
  'scheduled_tasks',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    name: text('name'),
    agentId: text('agent_id').notNull(),
    message: text('message').notNull(),
    sessionKey: text('session_key'),
    kind: text('kind', { enum: TASK_SCHEDULE_KINDS }).notNull(),
    cron: text('cron'),
    tz: text('tz'),
    everyMs: bigint('every_ms', { mode: 'number' }),
    at: timestamp('at', { withTimezone: true }),
    anchorAt: timestamp('anchor_at', { withTimezone: true }).notNull(),
    overlap: text('overlap', { enum: TASK_OVERLAP_POLICIES }).notNull().default('skip'),
    enabled: boolean('enabled').notNull().default(true),
    nextFireAt: timestamp('next_fire_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    check('scheduled_tasks_kind_ck', sql`${t.kind} in ('cron', 'every', 'once')`),
    check('scheduled_tasks_overlap_ck', sql`${t.overlap} in ('skip', 'queue')`),
    index('scheduled_tasks_principal_id_created_at_idx').on(t.principalId, t.createdAt, t.id),
    index('scheduled_tasks_next_fire_at_idx').on(t.nextFireAt).where(sql`${t.enabled} and ${t.nextFireAt} is not null`),
  ],
)
export type ScheduledTaskRow = typeof scheduledTasks.$inferSelect

export const TASK_FIRE_TRIGGERS = ['schedule', 'manual'] as const
export type TaskFireTrigger = (typeof TASK_FIRE_TRIGGERS)[number]
/** pending: recorded, run not started yet; started: run created; queued: waiting behind the previous firing (overlap `queue`); skipped / missed / failed: no run, see `reason`. */
export const TASK_FIRE_OUTCOMES = ['pending', 'started', 'queued', 'skipped', 'missed', 'failed'] as const
export type TaskFireOutcome = (typeof TASK_FIRE_OUTCOMES)[number]

/**
 * The trigger audit trail of a task: one row per tick it fired (or skipped, or missed) and per fire-now. `fire_key` is
 * the tick's identity (`task:<id>:<tick time>`, or `task:<id>:manual:<fire id>`), unique: whichever instance fires a
 * tick, the database admits it once. It is also the idempotency key of the run the firing starts.
 * @writer packages/scheduler — tasks.repo.ts records firings
 */
export const taskFires = pgTable(
  'task_fires',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => scheduledTasks.id, { onDelete: 'cascade' }),
    fireKey: text('fire_key').notNull(),
    trigger: text('trigger', { enum: TASK_FIRE_TRIGGERS }).notNull(),
    tickAt: timestamp('tick_at', { withTimezone: true }).notNull(),
    firedAt: timestamp('fired_at', { withTimezone: true }).notNull().default(sql`now()`),
    outcome: text('outcome', { enum: TASK_FIRE_OUTCOMES }).notNull(),
    reason: text('reason'),
    runId: text('run_id'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex('task_fires_fire_key_uq').on(t.fireKey),
    index('task_fires_task_id_fired_at_idx').on(t.taskId, t.firedAt),
    index('task_fires_outcome_idx').on(t.outcome).where(sql`${t.outcome} in ('pending', 'queued')`),
  ],
)
export type TaskFireRow = typeof taskFires.$inferSelect

/**
 * An instruction added to every run of the agents it targets (`agent_ids` null: every agent) of its principal, in a
 * stable order (`position`, then id), while `enabled`.
 * @writer packages/scheduler — standing-orders.repo.ts
 */
export const standingOrders = pgTable(
  'standing_orders',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    text: text('text').notNull(),
    agentIds: jsonb('agent_ids').$type<string[]>(),
    enabled: boolean('enabled').notNull().default(true),
    position: bigint('position', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [index('standing_orders_principal_id_position_idx').on(t.principalId, t.position, t.id)],
)
export type StandingOrderRow = typeof standingOrders.$inferSelect

export const COMMITMENT_STATUSES = ['open', 'fulfilled', 'cancelled', 'followed_up'] as const
export type CommitmentStatus = (typeof COMMITMENT_STATUSES)[number]

/**
 * Something an agent promised to do by `due_at`, in a session. One that falls due while `open` starts one follow-up
 * run in its session (`follow_up_run_id`, status `followed_up`); the move from `open` is fenced, so it happens once.
 * @writer packages/scheduler — commitments.repo.ts
 */
export const commitments = pgTable(
  'commitments',
  {
    id: text('id').primaryKey(),
    principalId: text('principal_id').notNull(),
    agentId: text('agent_id').notNull(),
    sessionKey: text('session_key').notNull(),
    text: text('text').notNull(),
    dueAt: timestamp('due_at', { withTimezone: true }).notNull(),
    status: text('status', { enum: COMMITMENT_STATUSES }).notNull().default('open'),
    sourceRunId: text('source_run_id'),
    followUpRunId: text('follow_up_run_id'),
    note: text('note'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    check('commitments_status_ck', sql`${t.status} in ('open', 'fulfilled', 'cancelled', 'followed_up')`),
    index('commitments_principal_id_created_at_idx').on(t.principalId, t.createdAt, t.id),
    index('commitments_due_at_idx').on(t.dueAt).where(sql`${t.status} = 'open'`),
  ],
)
export type CommitmentRow = typeof commitments.$inferSelect
