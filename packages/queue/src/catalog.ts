/**
 * Typed job catalogs. Each package declares the jobs it owns — name → payload type — once, with `defineJobs`:
 *
 * ```ts
 * export const runJobs = defineJobs({
 *   'run.execute': job<{ runId: string }>(),   // enqueued with add()
 *   'run.reconcile': scheduledJob(),           // fired by every() / cron(); handlers also get `tickAt`
 * })
 * ```
 *
 * Producers go through `createJobProducer(queue, catalog)`, so `add`, `every` and `cron` type-check the payload against
 * the name; worker hosts take a `JobMount` (catalog + one handler per job + the schedulers to register), and
 * `collectJobHandlers` refuses at boot a mount whose handlers do not match its catalog one to one.
 */
import { assertJobName } from './internal.js'
import type { CronOptions, EnqueueOptions, JobContext, JobHandler, JobQueue } from './types.js'

/** A job payload: a small JSON object (ids, not rows — large or sensitive payloads do not belong in a queue). */
export type JobPayload = object

/** How a job is started: `add` (one job per call) or a job scheduler (`every`, `cron`). */
export type JobKind = 'job' | 'scheduled'

declare const payloadType: unique symbol

/** One catalog entry. `P` exists only in types: a catalog is a plain object of `{ kind }` at run time. */
export interface JobDefinition<P extends JobPayload = JobPayload, K extends JobKind = JobKind> {
  readonly kind: K
  readonly [payloadType]?: P
}

/** A job enqueued one at a time with `add(name, payload, { jobId })`. */
export function job<P extends JobPayload>(): JobDefinition<P, 'job'> {
  return { kind: 'job' }
}

/** A job fired by a job scheduler (`every` or `cron`); its handler receives `{ ...payload, tickAt }`. */
export function scheduledJob<P extends JobPayload = Record<never, never>>(): JobDefinition<P, 'scheduled'> {
  return { kind: 'scheduled' }
}

// biome-ignore lint/suspicious/noExplicitAny: an existential type (each job has its own payload)
export type JobCatalog = Record<string, JobDefinition<any, JobKind>>

/** Declares a catalog: checks the names (non-empty) and entries at definition time, returns it as typed. */
export function defineJobs<const C extends JobCatalog>(catalog: C): C {
  for (const [name, definition] of Object.entries(catalog)) {
    assertJobName(name)
    if (definition?.kind !== 'job' && definition?.kind !== 'scheduled') {
      throw new Error(`defineJobs: '${name}' must be job<Payload>() or scheduledJob<Payload>()`)
    }
  }
  return Object.freeze({ ...catalog }) as C
}

export type JobName<C extends JobCatalog> = keyof C & string
/** The names of `C` whose jobs are of kind `K`. */
// biome-ignore lint/suspicious/noExplicitAny: matches a job of kind K whatever its payload
export type JobNameOf<C extends JobCatalog, K extends JobKind> = { [N in keyof C]: C[N] extends JobDefinition<any, K> ? N : never }[keyof C] & string
/** What a producer passes for job `N`. */
export type PayloadOf<C extends JobCatalog, N extends keyof C> = C[N] extends JobDefinition<infer P, JobKind> ? P : never
/** What the handler of job `N` receives: the payload, plus `tickAt` (ISO time of the tick) for scheduled jobs. */
export type HandlerPayloadOf<C extends JobCatalog, N extends keyof C> =
  C[N] extends JobDefinition<infer P, 'scheduled'> ? P & { tickAt: string } : PayloadOf<C, N>

export type TypedJobHandler<P> = (payload: P, ctx: JobContext) => Promise<void>
/** Exactly one handler per job of the catalog. */
export type JobHandlersOf<C extends JobCatalog> = { [N in JobName<C>]: TypedJobHandler<HandlerPayloadOf<C, N>> }

/** `[payload?]` when every field of the payload is optional (e.g. a scheduled job without data), else `[payload]`. */
type PayloadArg<P> = Record<never, never> extends P ? [payload?: P] : [payload: P]

/** A job queue seen through one catalog: only its names, each with its payload type. */
export interface JobProducer<C extends JobCatalog> {
  readonly catalog: C
  add<N extends JobNameOf<C, 'job'>>(name: N, payload: PayloadOf<C, N>, options: EnqueueOptions): Promise<void>
  every<N extends JobNameOf<C, 'scheduled'>>(schedulerId: string, name: N, everyMs: number, ...payload: PayloadArg<PayloadOf<C, N>>): Promise<void>
  cron<N extends JobNameOf<C, 'scheduled'>>(
    schedulerId: string,
    name: N,
    pattern: string,
    ...options: Record<never, never> extends PayloadOf<C, N>
      ? [options?: { tz?: string; data?: PayloadOf<C, N> }]
      : [options: { tz?: string; data: PayloadOf<C, N> }]
  ): Promise<void>
  removeScheduler(schedulerId: string): Promise<boolean>
}

/**
 * `queue` restricted to `catalog`. Names are checked at run time too (a cast or a JavaScript caller gets a clear
 * error instead of a job nobody handles), and a job is started only the way its kind says.
 */
export function createJobProducer<C extends JobCatalog>(queue: JobQueue, catalog: C): JobProducer<C> {
  const kindOf = (operation: string, name: string, kind: JobKind): void => {
    const definition = Object.hasOwn(catalog, name) ? catalog[name] : undefined
    if (!definition) {
      throw new Error(`${operation}: '${name}' is not in this job catalog (known: ${Object.keys(catalog).join(', ') || 'none'})`)
    }
    if (definition.kind !== kind) {
      const how = definition.kind === 'job' ? 'add()' : 'every() or cron()'
      throw new Error(`${operation}: '${name}' is a ${definition.kind === 'job' ? 'job' : 'scheduled job'}; start it with ${how}`)
    }
  }
  return {
    catalog,
    async add(name, payload, options) {
      kindOf('add', name, 'job')
      await queue.enqueue(name, payload as Record<string, unknown>, options)
    },
    async every(schedulerId, name, everyMs, ...[payload]) {
      kindOf('every', name, 'scheduled')
      await queue.every(schedulerId, name, everyMs, (payload ?? {}) as Record<string, unknown>)
    },
    async cron(schedulerId, name, pattern, ...[options]) {
      kindOf('cron', name, 'scheduled')
      await queue.cron(schedulerId, name, pattern, options as CronOptions | undefined)
    },
    removeScheduler: (schedulerId) => queue.removeScheduler(schedulerId),
  }
}

/** A job scheduler to register whenever a package's jobs are mounted: an interval or a cron pattern. */
export type ScheduleOf<N extends string, P> = { id: string; job: N; everyMs: number; data?: P } | { id: string; job: N; cron: string; tz?: string; data?: P }

/** The schedulers a catalog's scheduled jobs allow, each with its payload type. */
export type JobSchedule<C extends JobCatalog> = { [N in JobNameOf<C, 'scheduled'>]: ScheduleOf<N, PayloadOf<C, N>> }[JobNameOf<C, 'scheduled'>]

/** A schedule once the catalog's types are erased (what a mount holds). */
export type AnyJobSchedule = ScheduleOf<string, JobPayload>

/** One package's jobs as a worker host mounts them: its catalog, a handler for each job, its schedulers. */
export interface JobMount {
  /** Who owns these jobs, for messages (`core`). */
  owner: string
  catalog: JobCatalog
  handlers: Record<string, JobHandler>
  schedules: readonly AnyJobSchedule[]
}

/** Builds a package's mount; the handler map and the schedules are checked against the catalog's types. */
export function defineJobMount<C extends JobCatalog>(mount: {
  owner: string
  catalog: C
  handlers: JobHandlersOf<C>
  schedules?: readonly JobSchedule<C>[]
}): JobMount {
  return {
    owner: mount.owner,
    catalog: mount.catalog,
    handlers: mount.handlers as unknown as Record<string, JobHandler>,
    schedules: (mount.schedules ?? []) as readonly AnyJobSchedule[],
  }
}

/**
 * The boot-time check of a worker host: every job of every mounted catalog has exactly one handler, no handler is
 * for a job its catalog does not declare, no job name is owned twice, and every schedule fires a scheduled job of its
 * own catalog under an id used once. Throws one error listing every problem, with the fix; returns the merged map.
 */
export function collectJobHandlers(mounts: readonly JobMount[]): Record<string, JobHandler> {
  const problems: string[] = []
  const handlers: Record<string, JobHandler> = {}
  const owners = new Map<string, string>()
  const schedulerIds = new Map<string, string>()
  if (mounts.length === 0) problems.push('no job catalog is mounted')
  for (const { owner, catalog, handlers: given, schedules } of mounts) {
    for (const name of Object.keys(catalog)) {
      const other = owners.get(name)
      if (other !== undefined) problems.push(`job '${name}' is declared by both ${other} and ${owner}; a job name has one owner`)
      owners.set(name, owner)
      const handler = Object.hasOwn(given, name) ? given[name] : undefined
      if (handler === undefined) problems.push(`job '${name}' (${owner}) has no handler; add one to ${owner}'s job handlers`)
      else if (typeof handler !== 'function') problems.push(`the handler for job '${name}' (${owner}) is not a function`)
      else handlers[name] = handler
    }
    for (const name of Object.keys(given)) {
      if (!Object.hasOwn(catalog, name)) {
        problems.push(`${owner} has a handler for '${name}', which its job catalog does not declare; add it to the catalog or remove the handler`)
      }
    }
    for (const schedule of schedules) {
      const definition = Object.hasOwn(catalog, schedule.job) ? catalog[schedule.job] : undefined
      if (!definition) problems.push(`${owner}'s scheduler '${schedule.id}' fires '${schedule.job}', which its job catalog does not declare`)
      else if (definition.kind !== 'scheduled') {
        problems.push(`${owner}'s scheduler '${schedule.id}' fires '${schedule.job}', which is not declared with scheduledJob()`)
      }
      const other = schedulerIds.get(schedule.id)
      if (other !== undefined) problems.push(`scheduler id '${schedule.id}' is used by both ${other} and ${owner}`)
      schedulerIds.set(schedule.id, owner)
    }
  }
  if (problems.length > 0) throw new Error(`job handlers do not match the job catalogs:\n  - ${problems.join('\n  - ')}`)
  return handlers
}

/** Registers a mount's schedulers (idempotent upserts). */
export async function registerSchedules(queue: JobQueue, schedules: readonly AnyJobSchedule[]): Promise<void> {
  for (const schedule of schedules) {
    const data = (schedule.data ?? {}) as Record<string, unknown>
    if ('cron' in schedule) await queue.cron(schedule.id, schedule.job, schedule.cron, { ...(schedule.tz === undefined ? {} : { tz: schedule.tz }), data })
    else await queue.every(schedule.id, schedule.job, schedule.everyMs, data)
  }
}
