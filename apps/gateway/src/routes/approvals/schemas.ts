import { APPROVAL_STATUSES, type ApprovalRow, type ApprovalRuleRow, type ApprovalStatus } from '@openvesper/db'
import { invalidRequest } from '@openvesper/shared'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern, PageQuery } from '../../http/params.js'
import { TEXT_PATTERN } from '../../schemas/run.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const DateTime = (description: string) => Type.String({ format: 'date-time', description })
const Glob = (description: string) => Type.String({ minLength: 1, maxLength: 256, pattern: TEXT_PATTERN, description })

export const RuleMatchSchema = Type.Object(
  {
    tool: Type.Optional(Glob('Tool name glob (`*`, `?`).')),
    agent: Type.Optional(Glob('Agent id glob.')),
    sessionKey: Type.Optional(Glob('Session key glob; a run outside a session does not match.')),
    args: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), Glob('Glob over the argument (strings as they are, other values as JSON).'), {
        maxProperties: 16,
        description: 'Argument name → glob; every one must match.',
      }),
    ),
    risk: Type.Optional(Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')], { description: 'Matches tools at least this risky.' })),
  },
  { $id: 'ApprovalRuleMatch', additionalProperties: false, description: 'What the rule matches; an absent field matches anything.' },
)

const ActionSchema = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('ask')], {
  description: 'allow: the call runs; deny: the model is told it was refused; ask: the run waits for a decision.',
})

export const CreateRuleBodySchema = Type.Object(
  {
    match: ref(RuleMatchSchema),
    action: ActionSchema,
    reason: Type.Optional(Type.String({ maxLength: 500, pattern: TEXT_PATTERN, description: 'Told to the model when the rule denies.' })),
    index: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, description: 'Rank to insert at (0 = first); default last.' })),
  },
  { $id: 'CreateApprovalRuleBody', additionalProperties: false },
)

export const RuleSchema = Type.Object(
  {
    index: Type.Integer({ description: 'Rank: the first matching rule (lowest index) decides.' }),
    id: Type.String(),
    match: ref(RuleMatchSchema),
    action: ActionSchema,
    reason: Type.Union([Type.String(), Type.Null()]),
    source: Type.String({ description: 'api, config (seeded from OPENVESPER_APPROVAL_RULES) or remember (a decision with remember: true).' }),
    createdAt: DateTime('When the rule was added.'),
  },
  { $id: 'ApprovalRule', additionalProperties: false },
)

export const RuleListSchema = Type.Object(
  {
    items: Type.Array(ref(RuleSchema)),
    defaultAction: ActionSchema,
  },
  { $id: 'ApprovalRuleList', additionalProperties: false },
)

export const ApprovalSchema = Type.Object(
  {
    id: Type.String({ description: 'Approval id (`apr_…`).' }),
    runId: Type.String(),
    agent: Type.String(),
    step: Type.Integer({ description: 'Model call of the run the tool call belongs to.' }),
    toolCallId: Type.String(),
    toolName: Type.String(),
    arguments: Type.String({ description: 'The arguments as the model sent them (JSON text).' }),
    argsHash: Type.String({ description: 'SHA-256 (hex) of `arguments`: the approval is for exactly these.' }),
    status: Type.Unsafe<ApprovalStatus>({ type: 'string', enum: [...APPROVAL_STATUSES], description: 'pending → allowed | denied | expired | cancelled.' }),
    reason: Type.Union([Type.String(), Type.Null()]),
    decidedBy: Type.Union([Type.String(), Type.Null()], { description: 'Principal that decided.' }),
    decidedAt: Type.Union([DateTime('When it was decided.'), Type.Null()]),
    expiresAt: DateTime('When a pending approval expires (the run then fails with approval_expired).'),
    createdAt: DateTime('When the run paused for it.'),
  },
  { $id: 'Approval', additionalProperties: false },
)
export type Approval = Static<typeof ApprovalSchema>

export const ApprovalListSchema = Type.Object(
  { items: Type.Array(ref(ApprovalSchema)), nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Null on the last page.' }) },
  { $id: 'ApprovalList', additionalProperties: false },
)

const decisionProperties = {
  reason: Type.Optional(Type.String({ maxLength: 500, pattern: TEXT_PATTERN, description: 'Why; a denial tells the model.' })),
  remember: Type.Optional(Type.Boolean({ description: 'Also add a rule (first in the order) with this decision for this tool and agent.' })),
  toolCallId: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Decide only if the approval is for this tool call.' })),
  argsHash: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Decide only if the approval is for these exact arguments.' })),
}

export const DecideBodySchema = Type.Object(
  { decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]), ...decisionProperties },
  { $id: 'ApprovalDecision', additionalProperties: false },
)

/** POST /runs/:runId/approve | deny: the decision is the path's. */
export const RunDecisionBodySchema = Type.Object(decisionProperties, { $id: 'RunGateDecision', additionalProperties: false })

export const DecisionResultSchema = Type.Object(
  {
    approval: ref(ApprovalSchema),
    resumed: Type.Boolean({ description: 'True when this was the last decision the run waited for: it is queued to resume.' }),
    rule: Type.Optional(ref(RuleSchema)),
  },
  { $id: 'ApprovalDecisionResult', additionalProperties: false },
)

export const RunGateResultSchema = Type.Object(
  {
    runId: Type.String(),
    status: Type.String({ description: 'The run status after the decision (queued once nothing is pending).' }),
    approvals: Type.Array(ref(ApprovalSchema), { description: 'The approvals this request decided.' }),
  },
  { $id: 'RunGateResult', additionalProperties: false },
)

export const ApprovalParams = Type.Object({ id: idPattern('approval', { description: 'Approval id.' }) }, { additionalProperties: false })
export const RuleIndexParams = Type.Object(
  { index: Type.Integer({ minimum: 0, maximum: 10_000, description: 'Rank of the rule (GET /approvals/rules).' }) },
  { additionalProperties: false },
)
export const PendingQuery = Type.Object(PageQuery, { additionalProperties: false })

export const approvalSchemas = [
  RuleMatchSchema,
  CreateRuleBodySchema,
  RuleSchema,
  RuleListSchema,
  ApprovalSchema,
  ApprovalListSchema,
  DecideBodySchema,
  RunDecisionBodySchema,
  DecisionResultSchema,
  RunGateResultSchema,
]

export const toApproval = (a: ApprovalRow): Approval => ({
  id: a.id,
  runId: a.runId,
  agent: a.agentId,
  step: a.step,
  toolCallId: a.toolCallId,
  toolName: a.toolName,
  arguments: a.arguments,
  argsHash: a.argsHash,
  status: a.status,
  reason: a.reason,
  decidedBy: a.decidedBy,
  decidedAt: iso(a.decidedAt),
  expiresAt: a.expiresAt.toISOString(),
  createdAt: a.createdAt.toISOString(),
})

export const toRule = (row: ApprovalRuleRow, index: number) => ({
  index,
  id: row.id,
  match: row.match,
  action: row.action,
  reason: row.reason,
  source: row.source,
  createdAt: row.createdAt.toISOString(),
})

const PENDING_CURSOR = /^a1:(apr_[0-9a-z]{8,64})$/
export const encodePendingCursor = (a: ApprovalRow) => Buffer.from(`a1:${a.id}`, 'utf8').toString('base64url')
export function decodePendingCursor(cursor: string): string {
  const m = PENDING_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!m) throw invalidRequest('invalid cursor', [{ path: 'querystring.cursor', message: 'not a cursor of this list' }])
  return m[1]!
}
