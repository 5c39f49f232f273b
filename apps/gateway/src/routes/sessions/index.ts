import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import { normalizeSessionKeys } from '../../schemas/session-key.js'
import type { Services } from '../../services.js'
import {
  BranchBody,
  ForkBody,
  GetSessionQuery,
  ListSessionsQuery,
  MessagesQuery,
  PruneBody,
  PruneResultSchema,
  SessionDetailSchema,
  SessionListSchema,
  SessionMessagePageSchema,
  SessionParams,
  SessionQueueSchema,
  SessionSchema,
  SessionTokensSchema,
  SetAgentBody,
  SetQueueModeBody,
  sessionComponents,
  toMessagePage,
  toQueue,
  toSession,
  toTokens,
} from './schemas.js'

const TAG = 'Sessions'
const keyParam = normalizeSessionKeys({ params: ['key'] })
const keyParamAndTarget = normalizeSessionKeys({ params: ['key'], body: ['key'] })

/** Sessions of the caller's principal: another principal's session is a 404 on every route. */
const sessionsRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'sessions'> }> = async (app, { services }) => {
  const { sessions } = services
  const view = (s: Parameters<typeof sessions.queueModeOf>[0] & Parameters<typeof toSession>[0]) => toSession(s, sessions.queueModeOf(s).mode)

  app.get(
    '/sessions',
    {
      schema: {
        operationId: 'listSessions',
        summary: 'List sessions',
        description: "The caller's sessions, latest activity first, a page at a time (follow `nextCursor`).",
        tags: [TAG],
        querystring: ListSessionsQuery,
        response: { 200: ref(SessionListSchema) },
      },
      config: { auth: { scopes: ['sessions:read'] } },
    },
    async (request) => {
      const q = request.query
      const page = await sessions.list(request.principal, {
        agentId: q.agentId,
        activeSince: q.activeSince ? new Date(q.activeSince) : undefined,
        activeBefore: q.activeBefore ? new Date(q.activeBefore) : undefined,
        cursor: q.cursor,
        limit: q.limit,
      })
      return { items: page.items.map(view), nextCursor: page.nextCursor }
    },
  )

  app.post(
    '/sessions/prune',
    {
      schema: {
        operationId: 'pruneSessions',
        summary: 'Drop idle sessions',
        description:
          "Drops the caller's sessions with no activity for longer than `olderThanMs`, with their transcripts; a session with an active run is never dropped. With `dryRun`, only counts them.",
        tags: [TAG],
        body: PruneBody,
        response: { 200: ref(PruneResultSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
    },
    async (request) => {
      const dryRun = request.body.dryRun ?? false
      return { dryRun, count: await sessions.prune(request.principal, request.body.olderThanMs, dryRun) }
    },
  )

  app.get(
    '/sessions/:key',
    {
      schema: {
        operationId: 'getSession',
        summary: 'Get a session',
        description:
          'The session, its settings and the newest page of its transcript (newest first; continue with GET /sessions/{key}/messages?order=desc&cursor=…).',
        tags: [TAG],
        params: SessionParams,
        querystring: GetSessionQuery,
        response: { 200: ref(SessionDetailSchema) },
      },
      config: { auth: { scopes: ['sessions:read'] } },
      preValidation: keyParam,
    },
    async (request) => {
      const { session, messages } = await sessions.get(request.principal, request.params.key, { limit: request.query.limit })
      return { ...view(session), settings: { agentId: session.agentId }, messages: toMessagePage(session, messages) }
    },
  )

  app.get(
    '/sessions/:key/messages',
    {
      schema: {
        operationId: 'listSessionMessages',
        summary: "Read a session's transcript",
        description: 'Every stored message, including those before a reset (`beforeReset`), oldest first or newest first, a page at a time.',
        tags: [TAG],
        params: SessionParams,
        querystring: MessagesQuery,
        response: { 200: ref(SessionMessagePageSchema) },
      },
      config: { auth: { scopes: ['sessions:read'] } },
      preValidation: keyParam,
    },
    async (request) => {
      const { session, page } = await sessions.messages(request.principal, request.params.key, request.query)
      return toMessagePage(session, page)
    },
  )

  app.delete(
    '/sessions/:key',
    {
      schema: {
        operationId: 'deleteSession',
        summary: 'Delete a session',
        description: 'Drops the session and its transcript; its runs stay readable, no longer in a session. 409 session_busy while a run is active in it.',
        tags: [TAG],
        params: SessionParams,
        response: { 204: Type.Null({ description: 'Deleted.' }) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParam,
    },
    async (request, reply) => {
      await sessions.delete(request.principal, request.params.key)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/sessions/:key/reset',
    {
      schema: {
        operationId: 'resetSession',
        summary: "Reset a session's transcript",
        description:
          'Later runs in the session send the model none of the earlier messages; those stay stored and readable (`beforeReset`), and the settings stay. 409 session_busy while a run is active in it.',
        tags: [TAG],
        params: SessionParams,
        response: { 200: ref(SessionSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParam,
    },
    async (request) => view(await sessions.reset(request.principal, request.params.key)),
  )

  app.post(
    '/sessions/:key/agent',
    {
      schema: {
        operationId: 'setSessionAgent',
        summary: "Switch a session's agent",
        description: 'Later runs in the session that name no agent use this one. 404 for an unknown agent.',
        tags: [TAG],
        params: SessionParams,
        body: SetAgentBody,
        response: { 200: ref(SessionSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParam,
    },
    async (request) => view(await sessions.setAgent(request.principal, request.params.key, request.body.agentId)),
  )

  app.get(
    '/sessions/:key/queue',
    {
      schema: {
        operationId: 'getSessionQueue',
        summary: "A session's queue",
        description: 'The queue mode (and where it comes from), the active run and the waiting runs in the order they start.',
        tags: [TAG],
        params: SessionParams,
        response: { 200: ref(SessionQueueSchema) },
      },
      config: { auth: { scopes: ['sessions:read'] } },
      preValidation: keyParam,
    },
    async (request) => toQueue(await sessions.queue(request.principal, request.params.key)),
  )

  app.get(
    '/sessions/:key/tokens',
    {
      schema: {
        operationId: 'getSessionTokens',
        summary: "A session's token accounting",
        description: "Input and output token totals of the session's runs, the estimated size of its current context and the model's context window.",
        tags: [TAG],
        params: SessionParams,
        response: { 200: ref(SessionTokensSchema) },
      },
      config: { auth: { scopes: ['sessions:read'] } },
      preValidation: keyParam,
    },
    async (request) => toTokens(await sessions.tokens(request.principal, request.params.key)),
  )

  app.post(
    '/sessions/:key/queue/mode',
    {
      schema: {
        operationId: 'setSessionQueueMode',
        summary: "Set a session's queue mode",
        description:
          "What a message does while the session is busy, unless the request names a mode. `null` goes back to the agent's mode or the gateway default.",
        tags: [TAG],
        params: SessionParams,
        body: SetQueueModeBody,
        response: { 200: ref(SessionQueueSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParam,
    },
    async (request) => toQueue(await sessions.setQueueMode(request.principal, request.params.key, request.body.mode)),
  )

  app.post(
    '/sessions/:key/fork',
    {
      schema: {
        operationId: 'forkSession',
        summary: 'Fork a session',
        description:
          'Copies the whole session (settings, every message, its epoch) under a new key; the original is untouched. 409 session_exists when the target key exists.',
        tags: [TAG],
        params: SessionParams,
        body: ForkBody,
        response: { 201: ref(SessionSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParamAndTarget,
    },
    async (request, reply) => reply.code(201).send(view(await sessions.fork(request.principal, request.params.key, request.body.key))),
  )

  app.post(
    '/sessions/:key/branch',
    {
      schema: {
        operationId: 'branchSession',
        summary: 'Branch a session from one of its messages',
        description:
          "A new session under `key` with the original's settings and its messages up to and including `messageId`, in that message's epoch; the original is untouched. 404 for a message not in the session, 409 session_exists when the target key exists.",
        tags: [TAG],
        params: SessionParams,
        body: BranchBody,
        response: { 201: ref(SessionSchema) },
      },
      config: { auth: { scopes: ['sessions:write'] } },
      preValidation: keyParamAndTarget,
    },
    async (request, reply) =>
      reply.code(201).send(view(await sessions.branch(request.principal, request.params.key, request.body.messageId, request.body.key))),
  )
}

/** `/sessions/…`: the session store (transcripts, reset, agent switch, fork, branch, delete, prune). */
export const sessionsFeature = defineFeature({
  tag: { name: TAG, description: 'Conversations addressed by caller-chosen keys: their transcripts, reset, agent, fork, branch, deletion and pruning.' },
  components: sessionComponents,
  needs: ['sessions'],
  plugin: sessionsRoutes,
})
