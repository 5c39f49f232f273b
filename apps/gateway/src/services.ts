import type { AgentRegistry, RunsService } from '@openvesper/core'
import type { SessionsService } from '@openvesper/sessions'
import type { TokensService } from '@openvesper/access'
import type { LimitsService } from './rate-limit/index.js'
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
  /** Per-agent memory: entries, search, stats. */
  memory: MemoryService
}
