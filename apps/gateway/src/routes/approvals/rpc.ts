import { Type } from 'typebox'
import { idPattern } from '../../http/params.js'
import { type RpcMethods, rpcMethod } from '../../http/rpc.js'
import { DecideBodySchema, toApproval } from './schemas.js'

const ToolApprovalParams = Type.Object(
  {
    verdicts: Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.Union([Type.Literal('allow'), Type.Literal('deny')]), {
      minProperties: 1,
      maxProperties: 64,
    }),
    reason: Type.Optional(DecideBodySchema.properties.reason),
  },
  { additionalProperties: false },
)
const DecideParams = Type.Object({ approvalId: idPattern('approval'), ...DecideBodySchema.properties }, { additionalProperties: false })

export const APPROVALS_RPC_DESCRIPTION =
  'approval.decide {approvalId, decision: allow|deny, reason?, remember?, toolCallId?, argsHash?} → {approval, resumed} (needs approvals:write; an approval already decided is an error with data.code approval_decided). The seed-002 message {"type":"tool_approval","verdicts":{"<tool_call_id>":"allow"|"deny"}} decides the pending calls of the runs this connection follows, answered with {"type":"tool_approval.result","results":[{tool_call_id, approvalId?, status?, error?}]}. A followed run pushes approval.requested and approval.resolved with its events.'

export const approvalsRpc: RpcMethods<'approvals'> = {
  'approval.decide': rpcMethod({
    params: DecideParams,
    scope: 'approvals:write',
    async call(params, conn, { approvals }) {
      const { approvalId, ...decision } = params
      const result = await approvals.decide(conn.principal, approvalId, decision)
      return { approval: toApproval(result.approval), resumed: result.resumed }
    },
  }),
  tool_approval: rpcMethod({
    params: ToolApprovalParams,
    scope: 'approvals:write',
    async call(params, conn, { approvals }) {
      return { results: await approvals.decideToolCalls(conn.principal, conn.followed(), params.verdicts, params.reason) }
    },
  }),
}
