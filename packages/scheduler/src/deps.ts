import type { Db } from '@openvesper/db'
import type { Logger } from '@openvesper/shared'

/** What a firing asks the runtime for: an async run of `agentId` for the principal, idempotent on `idempotencyKey`. */
export interface StartRunInput {
  principalId: string
  agentId: string
  message: string
  sessionKey?: string
  /** The firing's identity (`task:<id>:<tick>`): the same key never starts a second run. */
  idempotencyKey: string
  /** The concurrency lane the run is admitted through (`cron` for scheduled runs). */
  lane: string
  /** Text the run's context receives (a due commitment), if any. */
  context?: string
}

/** Injected by the composition root: the scheduler starts runs without importing core. */
export type StartRun = (input: StartRunInput) => Promise<{ runId: string }>

/** Sends the scheduler's wake-up jobs (a producer over `schedulerJobs`). */
export interface WakeUps {
  /** A `scheduler.fire` job for `taskId` in `delayMs`, with a deterministic id per tick (a second send is a no-op). */
  arm(taskId: string, tickMs: number, delayMs: number): Promise<void>
}

export interface SchedulerOptions {
  /** The smallest interval between two ticks a task may have (default 1000 ms). */
  minIntervalMs: number
  /** A tick found this late (an instance was down over it) still fires once; later ones are recorded as missed. */
  catchUpMs: number
  /** How often the sweep runs (due ticks without a wake-up, queued firings, due commitments). */
  sweepMs: number
}

export interface SchedulerDeps {
  db: Db
  startRun: StartRun
  wakeUps: WakeUps
  /** True when the agent exists (tasks and commitments name one). */
  agentExists: (agentId: string) => boolean
  log: Logger
  options: SchedulerOptions
}
