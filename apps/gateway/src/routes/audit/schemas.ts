import { AUDIT_OUTCOMES, type AuditRow } from '@openvesper/db'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { PageQuery } from '../../http/params.js'

const Outcome = Type.Unsafe<(typeof AUDIT_OUTCOMES)[number]>({ type: 'string', enum: [...AUDIT_OUTCOMES] })
const filters = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Entries at or after this time.' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Entries before this time.' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Principal id that acted.' })),
  action: Type.Optional(
    Type.String({ pattern: '^[a-z_]{1,40}(\\.[a-z_]{1,40}){0,3}$', description: 'Dotted action, e.g. token.create, approval.decide, run.create.' }),
  ),
  target: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Id of what was acted on.' })),
  outcome: Type.Optional(Outcome),
}

export const AuditQuery = Type.Object({ ...filters, ...PageQuery }, { additionalProperties: false })
export const AuditStatsQuery = Type.Object(filters, { additionalProperties: false })
export const AuditDatesQuery = Type.Object(
  {
    ...filters,
    timeZone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+\\-/]+$', description: 'IANA time zone of the days (default UTC).' }),
    ),
  },
  { additionalProperties: false },
)

export const AuditEntrySchema = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    actor: Type.Union([Type.String(), Type.Null()], { description: 'Principal id; null for the system (jobs, bootstrap).' }),
    action: Type.String(),
    target: Type.Union([Type.String(), Type.Null()]),
    outcome: Outcome,
    detail: Type.Record(Type.String(), Type.Unknown(), { description: 'Secret-free details (scopes granted, decision, argument hash…).' }),
  },
  { $id: 'AuditEntry', additionalProperties: false },
)
export const AuditPageSchema = Type.Object(
  { items: Type.Array(ref(AuditEntrySchema)), nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Null on the last page.' }) },
  { $id: 'AuditPage', additionalProperties: false },
)
export const AuditStatsSchema = Type.Object(
  {
    items: Type.Array(Type.Object({ action: Type.String(), outcome: Outcome, count: Type.Integer() }, { additionalProperties: false })),
    total: Type.Integer(),
  },
  { $id: 'AuditStats', additionalProperties: false },
)
export const AuditDatesSchema = Type.Object(
  {
    timeZone: Type.String(),
    items: Type.Array(Type.Object({ date: Type.String({ description: 'YYYY-MM-DD in timeZone.' }), count: Type.Integer() }, { additionalProperties: false })),
  },
  { $id: 'AuditDates', additionalProperties: false },
)
export const auditSchemas = [AuditEntrySchema, AuditPageSchema, AuditStatsSchema, AuditDatesSchema]

export const toAuditEntry = (r: AuditRow) => ({
  id: r.id,
  at: r.at.toISOString(),
  actor: r.principalId,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
  detail: r.detail,
})
