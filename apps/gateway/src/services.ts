import type { AgentRegistry, ApprovalsService, RunsService } from '@openvesper/core'
import type { SessionsService } from '@openvesper/sessions'
import type { TokensService } from '@openvesper/access'
import type { AuditService } from '@openvesper/audit'
import type { LimitsService } from './rate-limit/index.js'

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
  /** Approval gates: pending decisions, deciding, the tool policy rules. */
  approvals: ApprovalsService
  /** The audit log: its sink (batched appends) and queries. */
  audit: AuditService
}
