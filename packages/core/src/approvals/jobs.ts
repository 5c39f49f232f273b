/** The approvals' job: expiring pending approvals (their runs fail with approval_expired), on a schedule. */
import { defineJobMount, defineJobs, type JobMount, scheduledJob } from '@openvesper/queue'

export const APPROVALS_EXPIRE_JOB = 'approvals.expire'
const APPROVALS_EXPIRE_SCHEDULER = 'approvals-expire'

const approvalJobs = defineJobs({
  /** Fails the runs whose pending approval is past its time. */
  [APPROVALS_EXPIRE_JOB]: scheduledJob(),
})

export function createApprovalJobMount(approvals: { expire(): Promise<unknown> }, options: { everyMs: number }): JobMount {
  return defineJobMount({
    owner: 'approvals',
    catalog: approvalJobs,
    handlers: {
      [APPROVALS_EXPIRE_JOB]: async () => {
        await approvals.expire()
      },
    },
    schedules: [{ id: APPROVALS_EXPIRE_SCHEDULER, job: APPROVALS_EXPIRE_JOB, everyMs: options.everyMs }],
  })
}
