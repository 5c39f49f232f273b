/**
 * One line of the audit trail: who did what to which thing, and how it ended. Written for tool approvals,
 * token creation and revocation, and access decisions; the audit package stores them (until then, `noopAuditSink`).
 */
export interface AuditEntry {
  /** When it happened; the sink stamps its clock's time when absent. */
  at?: Date
  /** The principal that acted (a token's principal id); absent for the system itself (bootstrap, jobs). */
  principalId?: string
  /** Dotted verb, `<resource>.<verb>`: `token.create`, `token.revoke`, `approval.decide`, `access.deny`… */
  action: string
  /** The id of what was acted on (a token id, a run id, a tool call id). */
  target?: string
  outcome: 'success' | 'failure' | 'denied'
  /** A small, secret-free JSON object with what else matters (scopes granted, the decision's reason). */
  detail?: Record<string, unknown>
}

/** Where audit entries go. `record` resolves once the entry is stored; callers decide whether a failure matters. */
export interface AuditSink {
  record(entry: AuditEntry): Promise<void>
}

/** Records nothing: the default until an audit store is configured. */
export const noopAuditSink: AuditSink = { record: async () => {} }
