import type { AgentRegistry, ApprovalsService, ProviderRegistry, RunsService } from '@openvesper/core'
import type { SessionsService } from '@openvesper/sessions'
import type { TokensService } from '@openvesper/access'
import type { AuditService } from '@openvesper/audit'
import type { LimitsService } from './rate-limit/index.js'
import type { Passthrough } from './passthrough/index.js'
import type { CommitmentsService, HeartbeatService, StandingOrdersService, TasksService } from '@openvesper/scheduler'
import type { MemoryService } from '@openvesper/memory'

/**
 * Everything route plugins may call. Built by the composition root (runtime.ts); route plugins receive
 * it through their options and never construct services themselves.
 */
export interface Services {
  tokens: TokensService
  runs: RunsService
  sessions: SessionsService
  agents: AgentRegistry
  /** The model catalogue: for now the default model of agents that name none (OPENVESPER_MODEL, else by provider key, else echo). */
  models: { defaultModel: string }
  /** Per-client request and failed-authentication limits, counted in `limits.counters`. */
  limits: LimitsService
  /** The configured providers (retries included), for the Anthropic surface's provider models. */
  providers: ProviderRegistry
  /** Pass-through to provider models on the compat surfaces (pooled upstream client, batched usage). */
  passthrough: Passthrough
  /** Scheduled tasks: CRUD, fire-now and the firing engine (packages/scheduler). */
  tasks: TasksService
  /** Standing orders (packages/scheduler); they reach runs as a context source. */
  standingOrders: StandingOrdersService
  /** Commitments and their due follow-ups (packages/scheduler); also the runtime tools commitment_create / commitment_fulfill. */
  commitments: CommitmentsService
  /** Per-agent heartbeat runs from the agents' config (packages/scheduler). */
  heartbeat: HeartbeatService
  /** Approval gates: pending decisions, deciding, the tool policy rules. */
  approvals: ApprovalsService
  /** The audit log: its sink (batched appends) and queries. */
  audit: AuditService
  /** Per-agent memory: entries, search, stats. */
  memory: MemoryService
}
