/**
 * Token scopes. The list is closed and append-only: a feature adds its `<resource>:read` / `<resource>:write`
 * pair here (sessions, memory, schedules, approvals:decide, audit:read, diag:read…) and declares it on its
 * routes. `admin` implies every scope, including the ones added later, and is the only scope that manages
 * tokens. Scopes are bound to a token server-side when the token is created; requests never carry them.
 */
export const SCOPES = [
  'admin',
  'runs:read',
  'runs:write',
  'sessions:read',
  'sessions:write',
  'models:use',
  'approvals:read',
  'approvals:write',
  'audit:read',
  'memory:read',
  'memory:write',
] as const
export type Scope = (typeof SCOPES)[number]

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  admin: 'Everything, including token management.',
  'runs:read': 'Read runs and their events.',
  'runs:write': 'Start, wait for and abort runs.',
  'sessions:read': 'List sessions and read their settings and transcripts.',
  'sessions:write': 'Reset, switch the agent of, fork, branch, delete and prune sessions (runs in a session need runs:write).',
  'models:use':
    'Call provider models through the compat surfaces (/v1, /anthropic/v1) as a pass-through: `provider/model` or an alias, never an agent (agents need runs:write).',
  'approvals:read': "List the pending approvals of the principal's runs and the tool policy rules.",
  'approvals:write': "Decide the pending approvals of the principal's runs (approve, deny, remember); runs:write alone cannot.",
  'audit:read': 'Read the audit log of every principal (entries, stats, dates).',
  'memory:read': "List, search and count an agent's memory entries.",
  'memory:write': "Add, delete and clear an agent's memory entries.",
}

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value)

/** True when the granted scopes satisfy every required one (`admin` satisfies all). */
export function hasScopes(granted: readonly string[], required: readonly Scope[]): boolean {
  if (granted.includes('admin')) return true
  return required.every((scope) => granted.includes(scope))
}
