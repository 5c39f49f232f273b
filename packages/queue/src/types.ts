/**
 * The job queue and event bus contracts. Two adapters implement each: BullMQ/Redis (server mode) and
 * in-process (embedded mode). One contract suite (test/contract.ts) runs against both.
 */

export interface JobContext {
  jobId: string
  /** The process-unique id of the worker host running the job. */
  workerId: string
  /** Aborted when the worker host closes past its grace period. */
  signal: AbortSignal
}

export type JobHandler = (data: Record<string, unknown>, ctx: JobContext) => Promise<void>

export interface EnqueueOptions {
  /** Deterministic id: a job whose id is already waiting, delayed or active is not added twice. */
  jobId: string
  delayMs?: number
}

export interface CronOptions {
  /** IANA time zone the pattern is read in (default UTC). */
  tz?: string
  /** The payload of every job the scheduler creates (plus `tickAt`). */
  data?: Record<string, unknown>
}

export interface SchedulerInfo {
  id: string
  /** The job name its iterations carry. */
  name: string
  /** Scheduled time (epoch millis) of its pending iteration. */
  next: number | undefined
  every?: number
  pattern?: string
  tz?: string
}

export interface WorkerHostOptions {
  /** Handlers keyed by job name; every job name the catalog knows must have one (checked at start). */
  handlers: Record<string, JobHandler>
  concurrency: number
  workerId: string
}

export interface WorkerHost {
  readonly workerId: string
  /** Jobs currently executing in this host. */
  active(): number
  /** Stops fetching new jobs, waits up to `graceMs` for active ones, then aborts their signals. */
  close(graceMs?: number): Promise<void>
}

export interface JobQueue {
  readonly kind: 'bullmq' | 'inprocess'
  /** Connects (BullMQ) — construction does no I/O. */
  start(): Promise<void>
  /** Adds a job. Rejects fast (does not hang) when the backend is unavailable. */
  enqueue(name: string, data: Record<string, unknown>, options: EnqueueOptions): Promise<void>
  /**
   * Registers a periodic job (idempotent upsert keyed by `schedulerId`): exactly one worker runs each
   * tick, whichever process hosts workers. Jobs carry `{ ...data, tickAt }` (ISO time of the tick).
   */
  every(schedulerId: string, name: string, everyMs: number, data?: Record<string, unknown>): Promise<void>
  /**
   * Registers a cron job scheduler (idempotent upsert keyed by `schedulerId`; replaces an `every` of the same id).
   * Fire times come from `cron-parser` exactly as BullMQ computes them (five fields, or six with seconds first;
   * `tz` an IANA zone, default UTC), so both adapters fire at the same instants. Jobs carry `{ ...data, tickAt }`.
   * Throws at once on a pattern or time zone cron-parser refuses, or a pattern that never fires.
   */
  cron(schedulerId: string, name: string, pattern: string, options?: CronOptions): Promise<void>
  /** Removes a job scheduler and its pending (delayed) iteration; resolves false when there was none. */
  removeScheduler(schedulerId: string): Promise<boolean>
  /** The registered job schedulers, ordered by id. */
  schedulers(): Promise<SchedulerInfo[]>
  startWorkers(options: WorkerHostOptions): Promise<WorkerHost>
  close(): Promise<void>
}

export interface SubscribeOptions {
  /**
   * Only messages published in this process are wanted (the local-first bus then leaves Redis out of the
   * subscription). Buses without a local path ignore it and deliver every message.
   */
  local?: boolean
}

export interface EventBus {
  readonly kind: 'redis' | 'inprocess'
  start(): Promise<void>
  publish(channel: string, message: string): Promise<void>
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void, options?: SubscribeOptions): Promise<() => Promise<void>>
  close(): Promise<void>
}
