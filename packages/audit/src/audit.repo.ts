import { type AuditOutcome, type AuditRow, type Db, rawSql } from '@openvesper/db'
import type { AuditEntry } from '@openvesper/shared'

export interface AuditFilter {
  from?: Date
  to?: Date
  principalId?: string
  action?: string
  target?: string
  outcome?: AuditOutcome
}

const toRow = (r: Record<string, unknown>): AuditRow => ({
  id: Number(r.id),
  at: r.at instanceof Date ? r.at : new Date(String(r.at)),
  principalId: (r.principal_id as string | null) ?? null,
  action: String(r.action),
  target: (r.target as string | null) ?? null,
  outcome: r.outcome as AuditOutcome,
  detail: (typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail) as Record<string, unknown>,
})

/** `$1`…`$6` of every filtered query, in this order. */
const WHERE = `($1::timestamptz is null or at >= $1) and ($2::timestamptz is null or at < $2) and ($3::text is null or principal_id = $3)
  and ($4::text is null or action = $4) and ($5::text is null or target = $5) and ($6::text is null or outcome = $6)`
const filterParams = (f: AuditFilter) => [
  f.from?.toISOString() ?? null,
  f.to?.toISOString() ?? null,
  f.principalId ?? null,
  f.action ?? null,
  f.target ?? null,
  f.outcome ?? null,
]

/** The audit log's only writer: appends (a batch per statement), and reads. There is no update and no delete. */
export function createAuditRepo(db: Db) {
  const raw = rawSql(db)
  return {
    async append(entries: readonly (AuditEntry & { at: Date })[]): Promise<void> {
      if (entries.length === 0) return
      await raw.query(
        `insert into audit_log (at, principal_id, action, target, outcome, detail)
         select x.at, x.principal_id, x.action, x.target, x.outcome, coalesce(x.detail, '{}'::jsonb)
         from jsonb_to_recordset($1::jsonb) as x(at timestamptz, principal_id text, action text, target text, outcome text, detail jsonb)`,
        [
          JSON.stringify(
            entries.map((e) => ({
              at: e.at.toISOString(),
              principal_id: e.principalId ?? null,
              action: e.action,
              target: e.target ?? null,
              outcome: e.outcome,
              detail: e.detail ?? {},
            })),
          ),
        ],
      )
    },

    /** Newest first, before the cursor id. */
    async list(filter: AuditFilter, limit: number, beforeId?: number): Promise<AuditRow[]> {
      const rows = await raw.query(`select * from audit_log where ${WHERE} and ($7::bigint is null or id < $7) order by id desc limit $8`, [
        ...filterParams(filter),
        beforeId ?? null,
        limit,
      ])
      return rows.map(toRow)
    },

    async stats(filter: AuditFilter): Promise<{ action: string; outcome: AuditOutcome; count: number }[]> {
      const rows = await raw.query<{ action: string; outcome: AuditOutcome; n: number }>(
        `select action, outcome, count(*)::int as n from audit_log where ${WHERE} group by action, outcome order by action, outcome`,
        filterParams(filter),
      )
      return rows.map((r) => ({ action: r.action, outcome: r.outcome, count: Number(r.n) }))
    },

    /** The days (in `timeZone`) with entries, newest first. */
    async dates(filter: AuditFilter, timeZone: string, limit: number): Promise<{ date: string; count: number }[]> {
      const rows = await raw.query<{ d: string; n: number }>(
        `select to_char(at at time zone $7, 'YYYY-MM-DD') as d, count(*)::int as n from audit_log where ${WHERE} group by 1 order by 1 desc limit $8`,
        [...filterParams(filter), timeZone, limit],
      )
      return rows.map((r) => ({ date: r.d, count: Number(r.n) }))
    },
  }
}
