export * from './next-fire.js'
export type { SchedulerDeps, SchedulerOptions, StartRun, StartRunInput, WakeUps } from './deps.js'
export type { TaskFireView } from './tasks.repo.js'
export {
  createTasksService,
  scheduleOf,
  tickKey,
  type CreateTaskInput,
  type ScheduleInput,
  type TaskDetail,
  type TasksService,
  type UpdateTaskInput,
} from './tasks.service.js'
export { createQueueWakeUps, createSchedulerJobMount, schedulerJobs, SCHEDULER_SWEEP_SCHEDULER } from './jobs.js'
export { createStandingOrdersService, renderStandingOrders, type CreateStandingOrderInput, type StandingOrdersService } from './standing-orders.service.js'
export { createCommitmentsService, followUpMessage, type CommitmentsService, type CreateCommitmentInput } from './commitments.service.js'
export { createHeartbeatService, HEARTBEAT_PRINCIPAL, type HeartbeatConfig, type HeartbeatService, type HeartbeatStatus } from './heartbeat.service.js'
