import type { Db } from '@openvesper/db'
import type { EventBus, JobProducer } from '@openvesper/queue'
import type { QueueMode } from '@openvesper/sessions'
import type { AuditSink, Clock, Logger } from '@openvesper/shared'
import type { AgentRegistry } from '../agents.js'
import type { ApprovalPolicy } from '../approvals/policy.js'
import type { CoreJobs } from '../jobs.js'
import type { ProviderRegistry } from '../providers/index.js'
import type { ToolRegistry } from '../tools/registry.js'
import type { ContextSource } from './context.js'
import type { RunEvents } from './events.js'

export interface RunOptions {
  leaseMs: number
  maxAttempts: number
  maxSteps: number
  staleQueuedMs: number
  waitTimeoutMaxMs: number
  /** A busy session's queue: the default mode, the cap on waiting runs, the `collect` debounce window. */
  sessionQueue: { mode: QueueMode; cap: number; collectDebounceMs: number }
}

/** Everything executing and managing runs needs; built once by the composition root. */
export interface RunDeps {
  db: Db
  /** The job queue, typed by core's job catalog. */
  queue: JobProducer<CoreJobs>
  bus: EventBus
  events: RunEvents
  agents: AgentRegistry
  tools: ToolRegistry
  providers: ProviderRegistry
  /** Feed each attempt's prompt (memory, standing orders …), in order. */
  contextSources: readonly ContextSource[]
  /** `provider/model` used by agents that name none. */
  defaultModel: string
  clock: Clock
  log: Logger
  options: RunOptions
  /** This process's id: lease owner of the runs it executes. */
  workerId: string
  /** The tool policy (approval gates); absent: every tool call the agent may make runs. */
  approvals?: ApprovalPolicy
  /** Run creations and aborts are recorded here (batched; a failure is logged). */
  audit?: AuditSink
}

export { RUN_EXECUTE_JOB, RUN_RECONCILE_JOB } from '../jobs.js'
