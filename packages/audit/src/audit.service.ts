import type { Db } from '@openvesper/db'
import { type AuditEntry, type AuditSink, type Clock, createCoalescer, invalidRequest, type Logger } from '@openvesper/shared'
import { type AuditFilter, createAuditRepo } from './audit.repo.js'

export interface AuditDeps {
  db: Db
  clock: Clock
  log: Logger
}

const encodeCursor = (id: number) => Buffer.from(`au1:${id}`, 'utf8').toString('base64url')
function decodeCursor(cursor: string): number {
  const m = /^au1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!m) throw invalidRequest('invalid cursor', [{ path: 'querystring.cursor', message: 'not a cursor of this list' }])
  return Number(m[1])
}

/**
 * The audit log: an `AuditSink` whose writes are batched (entries recorded together share one INSERT, so the run
 * path pays no statement of its own), and the queries of the audit routes.
 */
export function createAuditService(deps: AuditDeps) {
  const repo = createAuditRepo(deps.db)
  const append = createCoalescer<AuditEntry & { at: Date }, void>(
    async (entries) => {
      await repo.append(entries)
      return entries.map(() => undefined)
    },
    { maxBatch: 256 },
  )
  const sink: AuditSink = {
    record: (entry) => append({ ...entry, at: entry.at ?? deps.clock.now() }),
  }
  return {
    sink,
    async list(filter: AuditFilter, options: { limit: number; cursor?: string }) {
      const rows = await repo.list(filter, options.limit + 1, options.cursor === undefined ? undefined : decodeCursor(options.cursor))
      const items = rows.slice(0, options.limit)
      const last = items.at(-1)
      return { items, nextCursor: rows.length > options.limit && last ? encodeCursor(last.id) : null }
    },
    stats: (filter: AuditFilter) => repo.stats(filter),
    dates: (filter: AuditFilter, timeZone: string, limit: number) => repo.dates(filter, timeZone, limit),
  }
}
export type AuditService = ReturnType<typeof createAuditService>
