import { Type } from 'typebox'
import { idPattern } from '../../http/params.js'
import { type RpcMethods, rpcMethod } from '../../http/rpc.js'
import { DecideBodySchema, toApproval } from './schemas.js'

const DecideParams = Type.Object({ approvalId: idPattern('approval'), ...DecideBodySchema.properties }, { additionalProperties: false })

export const APPROVALS_RPC_DESCRIPTION =
  'approval.decide {approvalId, decision: allow|deny, reason?, remember?, toolCallId?, argsHash?} → {approval, resumed} (needs approvals:write; an approval already decided is an error with data.code approval_decided). A followed run pushes approval.requested and approval.resolved with its events.'

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
}
