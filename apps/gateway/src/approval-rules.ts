import { readFileSync } from 'node:fs'
import type { NewRule } from '@openvesper/core'
import type { ApprovalRuleMatch } from '@openvesper/db'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { RuleMatchSchema } from './routes/approvals/schemas.js'

const RulesFileSchema = Type.Array(
  Type.Object(
    {
      match: RuleMatchSchema,
      action: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('ask')]),
      reason: Type.Optional(Type.String({ maxLength: 500 })),
    },
    { additionalProperties: false },
  ),
  { maxItems: 1000 },
)

/** The approval rules file (OPENVESPER_APPROVAL_RULES): a JSON array of rules, checked like the API's; a bad file fails the start. */
export function loadApprovalRules(path: string): NewRule[] {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`approval rules file ${path} is not readable JSON: ${(err as Error).message}`)
  }
  const check = Compile(RulesFileSchema)
  if (!check.Check(raw)) {
    const problems = [...check.Errors(raw)].slice(0, 10).map((e) => `${e.instancePath || '(file)'}: ${e.message}`)
    throw new Error(`approval rules file ${path}:\n  - ${problems.join('\n  - ')}`)
  }
  return (raw as { match: ApprovalRuleMatch; action: NewRule['action']; reason?: string }[]).map((r) => ({
    match: r.match,
    action: r.action,
    reason: r.reason,
  }))
}
