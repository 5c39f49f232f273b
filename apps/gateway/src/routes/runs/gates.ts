import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ApprovalRow } from '@openvesper/db'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern } from '../../http/params.js'
import type { Services } from '../../services.js'
import { RunDecisionBodySchema, RunGateResultSchema, toApproval } from '../approvals/schemas.js'

const RunParams = Type.Object({ runId: idPattern('run', { description: 'Run id.' }) }, { additionalProperties: false })
const optionalBody = async (request: { body: unknown }) => {
  if (request.body === undefined || request.body === null) request.body = {}
}
const result = (runId: string, status: string, decided: ApprovalRow[]) => ({ runId, status, approvals: decided.map(toApproval) })

/** Seed 001's run-addressed gates: approve or deny what a waiting run waits on, or resume it. */
export const runGatesRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'approvals'> }> = async (app, { services }) => {
  const { approvals } = services
  for (const decision of ['allow', 'deny'] as const) {
    const verb = decision === 'allow' ? 'approve' : 'deny'
    app.post(
      `/runs/:runId/${verb}`,
      {
        schema: {
          operationId: decision === 'allow' ? 'approveRun' : 'denyRun',
          summary: decision === 'allow' ? 'Approve a paused approval gate' : 'Deny a paused approval gate',
          description: `${decision === 'allow' ? 'Approves' : 'Denies'} every pending approval of the run (or only the one of \`toolCallId\`), exactly as POST /approvals/{id}/decide would; the run resumes on any worker once nothing is pending. 409 when the run waits for nothing (or an approval was decided meanwhile).`,
          tags: ['Runs'],
          params: RunParams,
          body: ref(RunDecisionBodySchema),
          response: { 200: ref(RunGateResultSchema) },
        },
        config: { auth: { scopes: ['approvals:write'] } },
        preValidation: optionalBody,
      },
      async (request) => {
        const { decided, runStatus } = await approvals.decideRun(request.principal, request.params.runId, { ...request.body, decision })
        return result(
          request.params.runId,
          runStatus,
          decided.map((d) => d.approval),
        )
      },
    )
  }

  app.post(
    '/runs/:runId/resume',
    {
      schema: {
        operationId: 'resumeRun',
        summary: 'Resume a waiting run',
        description:
          'Queues a run in awaiting_approval whose gates are all decided (a resume that was lost); 409 while a decision is pending or when the run is not waiting.',
        tags: ['Runs'],
        params: RunParams,
        response: { 200: ref(RunGateResultSchema) },
      },
      config: { auth: { scopes: ['approvals:write'] } },
    },
    async (request) => result(request.params.runId, await approvals.resumeRun(request.principal, request.params.runId), []),
  )
}
