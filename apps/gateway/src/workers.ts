/**
 * The one place that mounts every package's jobs on the worker host (roles `worker` and `all`). A package with jobs
 * adds one line to `jobMounts`: its `create…JobMount(...)` (catalog, a handler per job, its job schedulers).
 */
import { createApprovalJobMount, createRunJobMount, type RunJobTarget } from '@openvesper/core'
import { type CommitmentsService, createSchedulerJobMount, type TasksService } from '@openvesper/scheduler'
import { createMemoryJobMount, type MemoryJobTarget } from '@openvesper/memory'
import { collectJobHandlers, type JobMount, type JobQueue, registerSchedules, type WorkerHost } from '@openvesper/queue'
import type { Logger } from '@openvesper/shared'

/** What the mounted handlers call, and the settings of their schedulers. */
export interface JobMountDeps {
  runs: RunJobTarget
  /** Expires pending approvals (absent: no approvals job). */
  approvals?: { expire(): Promise<unknown> }
  reconcileIntervalMs: number
  /** The scheduler's wake-ups and sweep (absent: no scheduler jobs in this mount list). */
  scheduler?: { tasks: Pick<TasksService, 'fireDue' | 'sweep'>; commitments?: Pick<CommitmentsService, 'sweep'>; sweepMs: number }
  /** Memory's embed and purge jobs (the runtime always passes it; a test of core's mount alone may leave it out). */
  memory?: MemoryJobTarget
  memoryPurgeIntervalMs?: number
}

/** Every package's jobs, in one list. */
export function jobMounts(deps: JobMountDeps): JobMount[] {
  return [
    createRunJobMount(deps.runs, { reconcileIntervalMs: deps.reconcileIntervalMs }),
    ...(deps.scheduler ? [createSchedulerJobMount(deps.scheduler.tasks, { sweepMs: deps.scheduler.sweepMs, commitments: deps.scheduler.commitments })] : []),
    ...(deps.approvals ? [createApprovalJobMount(deps.approvals, { everyMs: deps.reconcileIntervalMs })] : []),
    ...(deps.memory ? [createMemoryJobMount(deps.memory, { purgeIntervalMs: deps.memoryPurgeIntervalMs ?? 60_000 })] : []),
  ]
}

export interface MountWorkersOptions {
  queue: JobQueue
  mounts: readonly JobMount[]
  workerId: string
  concurrency: number
  log: Logger
}

/**
 * Checks the mounts — every job of every catalog has a handler, no handler is for an unknown job, no job or scheduler
 * id is claimed twice — and fails the start with every problem listed before anything runs; then starts the worker
 * host and registers the mounts' job schedulers.
 */
export async function mountWorkers(options: MountWorkersOptions): Promise<WorkerHost> {
  const { queue, mounts, workerId, concurrency, log } = options
  let handlers: ReturnType<typeof collectJobHandlers>
  try {
    handlers = collectJobHandlers(mounts)
  } catch (err) {
    throw new Error(`cannot start the workers: ${(err as Error).message}`, { cause: err })
  }
  const host = await queue.startWorkers({ handlers, workerId, concurrency })
  try {
    for (const mount of mounts) await registerSchedules(queue, mount.schedules)
  } catch (err) {
    await host.close()
    throw err
  }
  log.debug({ jobs: Object.keys(handlers), owners: mounts.map((m) => m.owner) }, 'job catalogs mounted')
  return host
}
