/**
 * The tool policy, pure: ordered rules, the first that matches a call decides (`allow`, `deny` or `ask`); a call no
 * rule matches gets the configured default. No I/O.
 */
import type { ApprovalAction, ApprovalRuleMatch, ToolRisk } from '@openvesper/db'

export interface PolicyRule {
  match: ApprovalRuleMatch
  action: ApprovalAction
  reason?: string | null
}

/** What a rule is checked against: one tool call of a run. */
export interface PolicyCall {
  tool: string
  risk: ToolRisk
  agent: string
  /** The run's session key; null outside a session (a rule naming a session key then does not match). */
  sessionKey: string | null
  args: Record<string, unknown>
}

export interface PolicyVerdict {
  action: ApprovalAction
  /** Rank of the deciding rule; undefined when the default decided. */
  index?: number
  reason?: string
}

const RISK_RANK: Record<ToolRisk, number> = { low: 0, medium: 1, high: 2 }
const globCache = new Map<string, RegExp>()

/** `*` any run of characters, `?` one character; everything else literal; the whole text must match. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob)
  if (re) return re
  const body = [...glob].map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[\\^$.|+()[\]{}/-]/g, '\\$&'))).join('')
  re = new RegExp(`^${body}$`, 'u')
  if (globCache.size > 1000) globCache.clear()
  globCache.set(glob, re)
  return re
}

export const globMatches = (glob: string, value: string): boolean => globToRegExp(glob).test(value)

/** An argument's value as a glob sees it: strings as they are, anything else as JSON; absent: never matches. */
const argText = (value: unknown): string | undefined => (value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value))

export function ruleMatches(match: ApprovalRuleMatch, call: PolicyCall): boolean {
  if (match.tool !== undefined && !globMatches(match.tool, call.tool)) return false
  if (match.agent !== undefined && !globMatches(match.agent, call.agent)) return false
  if (match.sessionKey !== undefined && (call.sessionKey === null || !globMatches(match.sessionKey, call.sessionKey))) return false
  if (match.risk !== undefined && RISK_RANK[call.risk] < RISK_RANK[match.risk]) return false
  if (match.args)
    for (const [name, glob] of Object.entries(match.args)) {
      const text = argText(Object.hasOwn(call.args, name) ? call.args[name] : undefined)
      if (text === undefined || !globMatches(glob, text)) return false
    }
  return true
}

/** The first matching rule's action, else `fallback`. */
export function decideCall(rules: readonly PolicyRule[], call: PolicyCall, fallback: ApprovalAction): PolicyVerdict {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    if (ruleMatches(rule.match, call)) return { action: rule.action, index: i, reason: rule.reason ?? undefined }
  }
  return { action: fallback }
}
