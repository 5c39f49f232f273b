import { defineJobMount, defineJobs, type JobMount, type JobQueue, job, scheduledJob, createJobProducer } from '@openvesper/queue'
import type { WakeUps } from './deps.js'
import type { CommitmentsService } from './commitments.service.js'
import type { TasksService } from './tasks.service.js'

/** The scheduler's jobs: the wake-up of one task tick, and the periodic sweep. */
export const schedulerJobs = defineJobs({
  'scheduler.fire': job<{ taskId: string; tickMs: number }>(),
  'scheduler.sweep': scheduledJob(),
})

export const SCHEDULER_SWEEP_SCHEDULER = 'scheduler-sweep'

/** Wake-ups through the queue: one delayed job per (task, tick), its id derived from both (a second send is a no-op). */
export function createQueueWakeUps(queue: JobQueue): WakeUps {
  const producer = createJobProducer(queue, schedulerJobs)
  return {
    arm: (taskId, tickMs, delayMs) =>
      producer.add('scheduler.fire', { taskId, tickMs }, { jobId: `fire_${taskId}_${tickMs}`, ...(delayMs > 0 ? { delayMs } : {}) }),
  }
}

/** The worker mount: handlers over the tasks service, and the sweep's job scheduler (exactly one worker per sweep). */
export function createSchedulerJobMount(
  tasks: Pick<TasksService, 'fireDue' | 'sweep'>,
  options: { sweepMs: number; commitments?: Pick<CommitmentsService, 'sweep'> },
): JobMount {
  return defineJobMount({
    owner: 'scheduler',
    catalog: schedulerJobs,
    handlers: {
      'scheduler.fire': async ({ taskId }) => {
        await tasks.fireDue(taskId)
      },
      'scheduler.sweep': async () => {
        await tasks.sweep()
        await options.commitments?.sweep()
      },
    },
    schedules: [{ id: SCHEDULER_SWEEP_SCHEDULER, job: 'scheduler.sweep', everyMs: options.sweepMs }],
  })
}
