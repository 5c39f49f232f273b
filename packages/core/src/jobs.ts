/**
 * Core's job catalog and its handlers. The gateway's `workers.ts` mounts them (with every other package's) on the
 * worker host; the runs service enqueues through a producer typed by this catalog.
 */
import { defineJobMount, defineJobs, job, type JobHandlersOf, type JobMount, scheduledJob } from '@openvesper/queue'

export const RUN_EXECUTE_JOB = 'run.execute'
export const RUN_RECONCILE_JOB = 'run.reconcile'
/** The job scheduler that runs the reconciler: exactly one worker per tick, whichever process hosts workers. */
export const RUN_RECONCILE_SCHEDULER = 'runs-reconcile'

export const coreJobs = defineJobs({
  /** Executes one queued run (job id = run id, or `<runId>_retry<attempt>` for a re-send). */
  [RUN_EXECUTE_JOB]: job<{ runId: string }>(),
  /** Re-queues or fails runs whose lease expired, and re-sends stale queued runs. */
  [RUN_RECONCILE_JOB]: scheduledJob(),
})
export type CoreJobs = typeof coreJobs

/** What the handlers call: the runs service's queued-execution and reconciler entry points. */
export interface RunJobTarget {
  executeQueued(runId: string, workerId: string, signal: AbortSignal): Promise<unknown>
  reconcile(): Promise<unknown>
}

/** One handler per job of core's catalog, calling the runs service. */
export function createRunJobHandlers(runs: RunJobTarget): JobHandlersOf<CoreJobs> {
  return {
    [RUN_EXECUTE_JOB]: async ({ runId }, ctx) => {
      await runs.executeQueued(runId, ctx.workerId, ctx.signal)
    },
    [RUN_RECONCILE_JOB]: async () => {
      await runs.reconcile()
    },
  }
}

/** Core's jobs as a worker host mounts them: the catalog, its handlers, the reconciler's scheduler. */
export function createRunJobMount(runs: RunJobTarget, options: { reconcileIntervalMs: number }): JobMount {
  return defineJobMount({
    owner: 'core',
    catalog: coreJobs,
    handlers: createRunJobHandlers(runs),
    schedules: [{ id: RUN_RECONCILE_SCHEDULER, job: RUN_RECONCILE_JOB, everyMs: options.reconcileIntervalMs }],
  })
}
