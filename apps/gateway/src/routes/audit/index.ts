import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuditFilter } from '@openvesper/audit'
import { invalidRequest } from '@openvesper/shared'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import { AuditDatesQuery, AuditDatesSchema, AuditPageSchema, AuditQuery, auditSchemas, AuditStatsQuery, AuditStatsSchema, toAuditEntry } from './schemas.js'

const TAG = 'Audit'
const filterOf = (q: { from?: string; to?: string; actor?: string; action?: string; target?: string; outcome?: AuditFilter['outcome'] }): AuditFilter => ({
  from: q.from ? new Date(q.from) : undefined,
  to: q.to ? new Date(q.to) : undefined,
  principalId: q.actor,
  action: q.action,
  target: q.target,
  outcome: q.outcome,
})
const validTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

/** The append-only audit log, for audit:read (and admin) tokens: every principal's entries. */
const auditRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'audit'> }> = async (app, { services }) => {
  const { audit } = services
  app.get(
    '/audit',
    {
      schema: {
        operationId: 'listAudit',
        summary: 'List audit entries',
        description: 'Newest first, filtered by time range, actor, action, target and outcome, a page at a time (follow `nextCursor`).',
        tags: [TAG],
        querystring: AuditQuery,
        response: { 200: ref(AuditPageSchema) },
      },
      config: { auth: { scopes: ['audit:read'] } },
    },
    async (request) => {
      const page = await audit.list(filterOf(request.query), { limit: request.query.limit ?? 50, cursor: request.query.cursor })
      return { items: page.items.map(toAuditEntry), nextCursor: page.nextCursor }
    },
  )
  app.get(
    '/audit/stats',
    {
      schema: {
        operationId: 'getAuditStats',
        summary: 'Count audit entries by action and outcome',
        tags: [TAG],
        querystring: AuditStatsQuery,
        response: { 200: ref(AuditStatsSchema) },
      },
      config: { auth: { scopes: ['audit:read'] } },
    },
    async (request) => {
      const items = await audit.stats(filterOf(request.query))
      return { items, total: items.reduce((n, i) => n + i.count, 0) }
    },
  )
  app.get(
    '/audit/dates',
    {
      schema: {
        operationId: 'listAuditDates',
        summary: 'The days that have audit entries',
        description: 'Days (YYYY-MM-DD in `timeZone`, default UTC) with at least one matching entry, newest first, with their counts.',
        tags: [TAG],
        querystring: AuditDatesQuery,
        response: { 200: ref(AuditDatesSchema) },
      },
      config: { auth: { scopes: ['audit:read'] } },
    },
    async (request) => {
      const timeZone = request.query.timeZone ?? 'UTC'
      if (!validTimeZone(timeZone)) throw invalidRequest('unknown time zone', [{ path: 'querystring.timeZone', message: 'not an IANA time zone' }])
      return { timeZone, items: await audit.dates(filterOf(request.query), timeZone, 366) }
    },
  )
}

/** `/audit…`: the append-only audit log (entries, counts, days). */
export const auditFeature = defineFeature({
  tag: { name: TAG, description: 'The append-only audit log: who did what to which thing, when, and how it ended.' },
  components: auditSchemas,
  needs: ['audit'],
  plugin: auditRoutes,
})
