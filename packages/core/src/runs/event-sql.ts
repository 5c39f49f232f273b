import type { EventItem, RunEvent } from './event-types.js'

/** A driver timestamp (Date, or text from `to_jsonb`) as ISO 8601. */
export const toIso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString()

/**
 * The INSERT that appends a JSON array of items (`itemsParam`, `countParam` of them) to a run's log, numbered after
 * the sequence numbers the CTE `u` reserved (its new `last_event_seq`). Every statement that stores events uses it.
 */
export const appendEventsSql = (runParam: string, itemsParam: string, countParam: string) => `
  insert into run_events (run_id, seq, type, data)
  select ${runParam}, u.last_event_seq - ${countParam}::int + e.ord::int, e.value->>'type', e.value->'data'
  from u, jsonb_array_elements(${itemsParam}::jsonb) with ordinality as e(value, ord)
  returning seq, created_at`

/** The events `items` became, from the rows (or the min seq / created_at) the statement returned. */
export function numberedEvents(runId: string, items: readonly EventItem[], rows: readonly { seq: unknown; created_at: unknown }[]): RunEvent[] {
  const first = Math.min(...rows.map((r) => Number(r.seq)))
  const createdAt = toIso(rows[0]!.created_at)
  return items.map((item, i) => ({ runId, seq: first + i, type: item.type, data: item.data, createdAt }))
}
