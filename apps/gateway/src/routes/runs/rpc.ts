import type { CreatedRun, RunEvent, RunsService } from '@openvesper/core'
import type { RunRow } from '@openvesper/db'
import { Type } from 'typebox'
import { idempotencyKey, idPattern, seqParam } from '../../http/params.js'
import { type Notify, type RpcConnection, type RpcMethods, rpcMethod } from '../../http/rpc.js'
import { CreateRunBodySchema, describeRun } from '../../schemas/run.js'

const RunIdParams = Type.Object({ runId: idPattern('run') }, { additionalProperties: false })
const SubscribeParams = Type.Object({ runId: idPattern('run'), afterSeq: Type.Optional(seqParam()) }, { additionalProperties: false })
const AgentRunParams = Type.Object({ ...CreateRunBodySchema.properties, idempotencyKey: Type.Optional(idempotencyKey()) }, { additionalProperties: false })

/** A run event as a notification: the method is the event type, params carry runId and seq. */
const toNotification = (notify: Notify) => (e: RunEvent) => notify(e.type, { runId: e.runId, seq: e.seq, ...e.data, createdAt: e.createdAt })

/** Follows a run from `afterSeq`; a run `created` and claimed here streams from its live events (runs.followNew). */
function subscribe(runs: RunsService, conn: RpcConnection, run: RunRow, afterSeq: number, reservation: () => void, created?: CreatedRun): void {
  conn.follow(
    run.id,
    (notify, signal) =>
      created?.attempt ? runs.followNew(created, toNotification(notify), signal) : runs.follow(run, afterSeq, toNotification(notify), signal),
    reservation,
  )
}

export const RUNS_RPC_DESCRIPTION =
  'agent.run {message, agent?, sessionKey?, idempotencyKey?} → {runId, status} and its events are pushed; run.subscribe {runId, afterSeq?}; run.unsubscribe {runId}; run.get {runId}; run.abort {runId}. Events arrive as notifications whose method is the event type (agent.text_delta, agent.tool_request, agent.tool_result, agent.turn_complete, agent.error, run.*) with params {runId, seq, …}.'

export const runsRpc: RpcMethods<'runs'> = {
  'agent.run': rpcMethod({
    params: AgentRunParams,
    scope: 'runs:write',
    async call(params, conn, { runs }) {
      const { idempotencyKey, ...input } = params
      // Before the run exists: a socket at its subscription cap creates nothing.
      const reservation = conn.reserveFollow()
      let created: CreatedRun
      try {
        created = await runs.create(conn.principal, input, { mode: 'stream', idempotencyKey, requestId: conn.requestId })
      } catch (err) {
        reservation()
        throw err
      }
      const { run } = created
      // After the reply, which is sent when this call resolves (setImmediate runs after that microtask).
      setImmediate(() => {
        if (conn.isOpen()) return subscribe(runs, conn, run, 0, reservation, created)
        reservation()
        // The client left already: the run still runs, as over SSE.
        if (created.created) void runs.executeInline(created).catch((err) => conn.log.error({ err, runId: run.id }, 'inline run crashed'))
      })
      return { runId: run.id, status: run.status }
    },
  }),
  'run.subscribe': rpcMethod({
    params: SubscribeParams,
    scope: 'runs:read',
    async call(params, conn, { runs }) {
      const reservation = conn.reserveFollow()
      let run: RunRow
      try {
        run = await runs.getOwned(conn.principal, params.runId)
      } catch (err) {
        reservation()
        throw err
      }
      subscribe(runs, conn, run, params.afterSeq ?? 0, reservation)
      return { runId: run.id, subscribed: true }
    },
  }),
  'run.unsubscribe': rpcMethod({
    params: RunIdParams,
    scope: 'runs:read',
    async call(params, conn) {
      conn.unfollow(params.runId)
      return { runId: params.runId, subscribed: false }
    },
  }),
  'run.get': rpcMethod({
    params: RunIdParams,
    scope: 'runs:read',
    async call(params, conn, { runs }) {
      return describeRun(runs, await runs.getOwned(conn.principal, params.runId))
    },
  }),
  'run.abort': rpcMethod({
    params: RunIdParams,
    scope: 'runs:write',
    async call(params, conn, { runs }) {
      return describeRun(runs, await runs.abort(conn.principal, params.runId))
    },
  }),
}
