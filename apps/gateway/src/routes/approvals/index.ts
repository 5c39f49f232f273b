import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '@openvesper/config'
import type { ApprovalRuleMatch } from '@openvesper/db'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import { APPROVALS_RPC_DESCRIPTION, approvalsRpc } from './rpc.js'
import {
  ApprovalListSchema,
  ApprovalParams,
  approvalSchemas,
  CreateRuleBodySchema,
  DecideBodySchema,
  DecisionResultSchema,
  decodePendingCursor,
  encodePendingCursor,
  PendingQuery,
  RuleIndexParams,
  RuleListSchema,
  RuleSchema,
  toApproval,
  toRule,
} from './schemas.js'

const TAG = 'Approvals'

/**
 * Approval gates. The pending queue and decisions are the run owner's (another principal's approval is a 404; an
 * admin token sees every principal's); deciding needs approvals:write, which runs:write does not imply. The rules are
 * the gateway's tool policy: read with approvals:read, changed by admin tokens only.
 */
const approvalsRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'approvals'>; config: Config }> = async (app, { services, config }) => {
  const { approvals } = services

  app.get(
    '/approvals/pending',
    {
      schema: {
        operationId: 'listPendingApprovals',
        summary: 'List pending approvals',
        description: "Tool calls the caller's runs wait on (every principal's for an admin token), oldest first, a page at a time.",
        tags: [TAG],
        querystring: PendingQuery,
        response: { 200: ref(ApprovalListSchema) },
      },
      config: { auth: { scopes: ['approvals:read'] } },
    },
    async (request) => {
      const limit = request.query.limit ?? 50
      const after = request.query.cursor === undefined ? undefined : decodePendingCursor(request.query.cursor)
      const rows = await approvals.listPending(request.principal, { limit: limit + 1, after })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return { items: page.map(toApproval), nextCursor: rows.length > limit && last ? encodePendingCursor(last) : null }
    },
  )

  app.post(
    '/approvals/:id/decide',
    {
      schema: {
        operationId: 'decideApproval',
        summary: 'Approve or deny a pending tool call',
        description:
          'Decides once: allow runs the tool (once, for exactly the arguments it was requested with), deny tells the model it was refused and the run goes on. When it was the last decision the run waited for, the run is queued and resumes on any worker. A second decision (also concurrently, from another gateway) is a 409 approval_decided whose `outcome` names the decision that won.',
        tags: [TAG],
        params: ApprovalParams,
        body: ref(DecideBodySchema),
        response: { 200: ref(DecisionResultSchema) },
      },
      config: { auth: { scopes: ['approvals:write'] } },
    },
    async (request) => {
      const result = await approvals.decide(request.principal, request.params.id, request.body)
      return {
        approval: toApproval(result.approval),
        resumed: result.resumed,
        ...(result.rule ? { rule: toRule(result.rule.row, result.rule.index) } : {}),
      }
    },
  )

  app.get(
    '/approvals/rules',
    {
      schema: {
        operationId: 'listApprovalRules',
        summary: 'List the tool policy rules',
        description: 'In order: the first rule matching a tool call decides it (allow, deny, ask); `defaultAction` decides the rest.',
        tags: [TAG],
        response: { 200: ref(RuleListSchema) },
      },
      config: { auth: { scopes: ['approvals:read'] } },
    },
    async () => ({ items: (await approvals.listRules()).map(toRule), defaultAction: config.approvals.defaultAction }),
  )

  app.post(
    '/approvals/rules',
    {
      schema: {
        operationId: 'createApprovalRule',
        summary: 'Add a tool policy rule',
        description: 'Inserts the rule at `index` (default: last); later rules move down. Applies to tool calls from now on, on every gateway.',
        tags: [TAG],
        body: ref(CreateRuleBodySchema),
        response: { 201: ref(RuleSchema) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async (request, reply) => {
      const { match, action, reason, index } = request.body
      const added = await approvals.addRule(request.principal, { match: match as ApprovalRuleMatch, action, reason, index })
      return reply.code(201).send(toRule(added.row, added.index))
    },
  )

  app.delete(
    '/approvals/rules/:index',
    {
      schema: {
        operationId: 'deleteApprovalRule',
        summary: 'Remove a tool policy rule',
        description: 'Removes the rule at this rank; later rules move up.',
        tags: [TAG],
        params: RuleIndexParams,
        response: { 204: Type.Null({ description: 'Removed.' }) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async (request, reply) => {
      await approvals.deleteRule(request.principal, request.params.index)
      return reply.code(204).send(null)
    },
  )
}

/** `/approvals/…`: pending tool-call approvals, deciding them, and the tool policy rules. */
export const approvalsFeature = defineFeature({
  tag: { name: TAG, description: 'Approval gates on tool calls: the pending queue, decisions, and the ordered tool policy rules.' },
  components: approvalSchemas,
  needs: ['approvals'],
  plugin: approvalsRoutes,
  rpc: approvalsRpc,
  rpcDescription: APPROVALS_RPC_DESCRIPTION,
})
