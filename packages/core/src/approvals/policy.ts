import type { ApprovalAction, Db } from '@openvesper/db'
import type { EventBus } from '@openvesper/queue'
import type { Logger } from '@openvesper/shared'
import { createApprovalsRepo } from './approvals.repo.js'
import type { PolicyRule } from './rules.js'

/** Bus channel telling every process that the rules changed. */
export const APPROVAL_RULES_CHANNEL = 'approvals:rules'

/** What the turn loop asks before running tools: the ordered rules (cached), the default, how long a gate waits. */
export interface ApprovalPolicy {
  rules(): Promise<readonly PolicyRule[]>
  /** Drops the cached rules (this process changed them; the others hear it on the bus). */
  invalidate(): void
  readonly defaultAction: ApprovalAction
  readonly ttlMs: number
  start(): Promise<void>
  stop(): Promise<void>
}

export interface ApprovalPolicyOptions {
  db: Db
  bus: EventBus
  log: Logger
  defaultAction: ApprovalAction
  ttlMs: number
  /** How long the cached rules may be used without a change notice (a lost notice's longest effect). */
  cacheMs?: number
}

/** The rules are read once and cached until a change notice (or `cacheMs`): the check per tool call is in memory. */
export function createApprovalPolicy(options: ApprovalPolicyOptions): ApprovalPolicy {
  const repo = createApprovalsRepo(options.db)
  const cacheMs = options.cacheMs ?? 5000
  let cached: { at: number; rules: Promise<readonly PolicyRule[]> } | undefined
  let unsubscribe: (() => Promise<void>) | undefined
  const load = async (): Promise<readonly PolicyRule[]> => (await repo.listRules()).map((r) => ({ match: r.match, action: r.action, reason: r.reason }))
  return {
    defaultAction: options.defaultAction,
    ttlMs: options.ttlMs,
    rules() {
      if (!cached || Date.now() - cached.at > cacheMs) {
        const rules = load()
        cached = { at: Date.now(), rules }
        rules.catch(() => {
          if (cached?.rules === rules) cached = undefined
        })
      }
      return cached.rules
    },
    invalidate() {
      cached = undefined
    },
    async start() {
      unsubscribe = await options.bus.subscribe(APPROVAL_RULES_CHANNEL, () => {
        cached = undefined
      })
    },
    async stop() {
      await unsubscribe?.()
    },
  }
}
