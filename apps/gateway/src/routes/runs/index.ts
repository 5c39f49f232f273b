import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '@openvesper/config'
import type { CreatedRun } from '@openvesper/core'
import type { RunRow } from '@openvesper/db'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { watchCredential } from '../../http/credential-watch.js'
import { LONG_HANDLER_IDLE_MS, onDisconnect } from '../../http/disconnect.js'
import { Type } from 'typebox'
import { CreateRunBodySchema, describeRun, RunAcceptedSchema, RunSchema, runSchemas, toRun } from '../../schemas/run.js'
import { ref } from '../../http/components.js'
import { normalizeSessionKeys } from '../../schemas/session-key.js'
import { defineFeature } from '../../http/feature.js'
import { IdempotencyHeaders, idempotencyKey, idPattern, seqParam } from '../../http/params.js'
import type { Services } from '../../services.js'
import { runGatesRoutes } from './gates.js'
import { RUNS_RPC_DESCRIPTION, runsRpc } from './rpc.js'
import { openRunSse, resumeCursor, type SseSink } from './sse.js'

const RunParams = Type.Object({ runId: idPattern('run', { description: 'Run id.' }) }, { additionalProperties: false })
const StreamHeaders = Type.Object({
  'idempotency-key': Type.Optional(idempotencyKey()),
  'last-event-id': Type.Optional(Type.String({ pattern: '^\\d{1,9}$', description: 'Resume after this event sequence number.' })),
})
const WaitBody = Type.Object(
  {
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'Longest wait; capped by OPENVESPER_WAIT_TIMEOUT_MAX_MS. Default 30000.' }),
    ),
  },
  { additionalProperties: false },
)
const EventsQuery = Type.Object(
  {
    after: Type.Optional(seqParam('Resume after this sequence number (Last-Event-ID wins).')),
    token: Type.Optional(Type.String({ description: 'Bearer token, for clients that cannot set headers (EventSource).' })),
  },
  { additionalProperties: false },
)
/** The session key rule on a run's `sessionKey` (a 400 naming it), before validation. */
const sessionKeyRule = normalizeSessionKeys({ body: ['sessionKey'] })
const SSE_DESCRIPTION =
  'Server-sent events. Each event has `id:` = its sequence number and `event:` = its type (run.started, agent.text_delta, agent.text, agent.tool_request, agent.tool_result, agent.turn_complete, agent.error, run.retrying, run.completed, run.failed, run.cancelled); `data:` is JSON with runId, seq, type and the event fields. The stream ends after the terminal run.* event. A client that reads none of what waits for it for OPENVESPER_STREAM_STALL_MS (20 s) is disconnected; it resumes with Last-Event-ID.'
const sseResponse = { 200: { description: SSE_DESCRIPTION, content: { 'text/event-stream': { schema: Type.String() } } } }

const runsRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'runs' | 'tokens' | 'approvals'>; config: Config }> = async (
  app,
  { services, config },
) => {
  const { runs } = services
  await app.register(runGatesRoutes, { services })
  const streams = config.limits.streams
  // Open SSE streams end when the server closes (clients resume with Last-Event-ID elsewhere).
  const openStreams = new Set<SseSink>()
  app.addHook('preClose', async () => {
    for (const sink of openStreams) sink.close()
  })
  /**
   * SSE of a run's events from the resume cursor; ends on the terminal event, disconnect or token revocation.
   * A run this request just created (`fresh`) starts with its run.started, sent at once, and its executor starts
   * once the stream listens, so nothing needs to be read back from the log.
   */
  const streamRun = async (run: RunRow, request: FastifyRequest, reply: FastifyReply, after: number | undefined, fresh?: CreatedRun) => {
    const sink = openRunSse(request, reply, streams, run.id)
    openStreams.add(sink)
    const unwatch = watchCredential(services.tokens, request.principal.tokenId, () => sink.close())
    try {
      if (fresh?.attempt) {
        await runs.followNew(fresh, (e) => sink.send(e), sink.signal)
        return
      }
      const lastEventId = request.headers['last-event-id']
      await runs.follow(run, resumeCursor(typeof lastEventId === 'string' ? lastEventId : undefined, after), (e) => sink.send(e), sink.signal)
    } finally {
      unwatch()
      openStreams.delete(sink)
      sink.end()
    }
  }
  const respond = (row: RunRow) => describeRun(runs, row)

  app.post(
    '/agent',
    {
      schema: {
        operationId: 'runAgent',
        summary: 'Run an agent synchronously',
        description:
          'Executes the run in this gateway and answers with the finished run (status completed, failed or cancelled). Disconnecting cancels the run. With an Idempotency-Key, a retry returns the same run (waiting for it if still running).',
        tags: ['Runs'],
        headers: IdempotencyHeaders,
        body: ref(CreateRunBodySchema),
        response: { 200: ref(RunSchema) },
      },
      config: { auth: { scopes: ['runs:write'] }, socketIdleTimeoutMs: LONG_HANDLER_IDLE_MS },
      preValidation: sessionKeyRule,
    },
    async (request, reply) => {
      const disconnected = onDisconnect(reply)
      const created = await runs.create(request.principal, request.body, {
        mode: 'sync',
        idempotencyKey: request.headers['idempotency-key'],
        requestId: String(request.id),
      })
      // Same principal, same session key (replays are checked for it): no second lookup of the session.
      const sessionKey = request.body.sessionKey ?? null
      return toRun(await runs.settle(request.principal, created, disconnected), sessionKey)
    },
  )

  app.post(
    '/agent/async',
    {
      schema: {
        operationId: 'startAgentRun',
        summary: 'Start an agent run asynchronously',
        description:
          'Queues the run for a worker and answers at once. Poll GET /agent/run/{runId}, wait with POST /agent/run/{runId}/wait or stream GET /agent/run/{runId}/events.',
        tags: ['Runs'],
        headers: IdempotencyHeaders,
        body: ref(CreateRunBodySchema),
        response: { 202: ref(RunAcceptedSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
      preValidation: sessionKeyRule,
    },
    async (request, reply) => {
      const { run } = await runs.create(request.principal, request.body, {
        mode: 'async',
        idempotencyKey: request.headers['idempotency-key'],
        requestId: String(request.id),
      })
      return reply.code(202).send({ runId: run.id, acceptedAt: run.createdAt.toISOString() })
    },
  )

  app.post(
    '/agent/stream',
    {
      schema: {
        operationId: 'streamAgentRun',
        summary: 'Run an agent and stream its events (SSE)',
        description: `${SSE_DESCRIPTION} The run id is in the X-Run-Id header and every event. Disconnecting does not stop the run: resume with GET /agent/run/{runId}/events and Last-Event-ID, or repeat this request with the same Idempotency-Key and Last-Event-ID.`,
        tags: ['Runs'],
        headers: StreamHeaders,
        body: ref(CreateRunBodySchema),
        response: sseResponse,
      },
      config: { auth: { scopes: ['runs:write'], streaming: true } },
      preValidation: sessionKeyRule,
    },
    async (request, reply) => {
      const created = await runs.create(request.principal, request.body, {
        mode: 'stream',
        idempotencyKey: request.headers['idempotency-key'],
        requestId: String(request.id),
      })
      await streamRun(created.run, request, reply, undefined, created.created ? created : undefined)
    },
  )

  app.get(
    '/agent/run/:runId',
    {
      schema: { operationId: 'getAgentRun', summary: 'Get a run', tags: ['Runs'], params: RunParams, response: { 200: ref(RunSchema) } },
      config: { auth: { scopes: ['runs:read'] } },
    },
    async (request) => respond(await runs.getOwned(request.principal, request.params.runId)),
  )

  app.get(
    '/agent/run/:runId/events',
    {
      schema: {
        operationId: 'streamAgentRunEvents',
        summary: "Stream a run's events (SSE), with resume",
        description: `${SSE_DESCRIPTION} Replays stored events after Last-Event-ID (or ?after=) and then follows the live run.`,
        tags: ['Runs'],
        params: RunParams,
        querystring: EventsQuery,
        headers: StreamHeaders,
        response: sseResponse,
      },
      config: { auth: { scopes: ['runs:read'], streaming: true } },
    },
    async (request, reply) => {
      const run = await runs.getOwned(request.principal, request.params.runId)
      await streamRun(run, request, reply, request.query.after)
    },
  )

  app.post(
    '/agent/run/:runId/wait',
    {
      schema: {
        operationId: 'waitAgentRun',
        summary: 'Wait until a run ends',
        description: 'Blocks until the run is terminal or timeoutMs passes, then returns the run as it is (check status).',
        tags: ['Runs'],
        params: RunParams,
        body: WaitBody,
        response: { 200: ref(RunSchema) },
      },
      config: { auth: { scopes: ['runs:read'] }, socketIdleTimeoutMs: LONG_HANDLER_IDLE_MS },
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const disconnected = onDisconnect(reply)
      const row = await runs.wait(request.principal, request.params.runId, request.body.timeoutMs ?? 30_000, disconnected)
      return respond(row)
    },
  )

  app.post(
    '/agent/run/:runId/abort',
    {
      schema: {
        operationId: 'abortAgentRun',
        summary: 'Cancel a run',
        description:
          'Cancels a queued, running or awaiting-approval run from any gateway instance; the upstream request is stopped. 409 when the run already ended.',
        tags: ['Runs'],
        params: RunParams,
        response: { 200: ref(RunSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => respond(await runs.abort(request.principal, request.params.runId)),
  )
}

/** Agent execution: `/agent`, `/agent/async`, `/agent/stream`, `/agent/run/:runId/…` and the runs' WebSocket methods. */
export const runsFeature = defineFeature({
  tag: { name: 'Runs', description: 'Agent execution: synchronous, asynchronous and streamed runs, their status, waiting and cancellation.' },
  components: runSchemas,
  needs: ['runs', 'tokens', 'approvals'],
  plugin: runsRoutes,
  rpc: runsRpc,
  rpcDescription: RUNS_RPC_DESCRIPTION,
})
