import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { parseSessionKey } from '@openvesper/sessions'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import {
  CommitmentListSchema,
  CommitmentParams,
  CommitmentSchema,
  CreateCommitmentBody,
  commitmentComponents,
  FulfillBody,
  ListCommitmentsQuery,
  toCommitment,
} from './schemas.js'

const TAG = 'Commitments'

/** Commitments of the caller's principal: another principal's commitment is a 404. */
const commitmentsRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'commitments'> }> = async (app, { services }) => {
  const { commitments } = services

  app.get(
    '/commitments',
    {
      schema: {
        operationId: 'listCommitments',
        summary: 'List commitments',
        description: "The caller's commitments, soonest due first, optionally by status and session.",
        tags: [TAG],
        querystring: ListCommitmentsQuery,
        response: { 200: ref(CommitmentListSchema) },
      },
      config: { auth: { scopes: ['runs:read'] } },
    },
    async (request) => {
      const q = request.query
      const sessionKey = q.sessionKey === undefined ? undefined : parseSessionKey(q.sessionKey)
      return { items: (await commitments.list(request.principal, { ...q, sessionKey })).map(toCommitment) }
    },
  )

  app.post(
    '/commitments',
    {
      schema: {
        operationId: 'createCommitment',
        summary: 'Record a commitment',
        description:
          'Something an agent promised to do by `dueAt`, in a session. One still open when due starts one follow-up run in its session, with the commitment in its message. Agents make them with the `commitment_create` tool. An unknown agent is a 400.',
        tags: [TAG],
        body: CreateCommitmentBody,
        response: { 201: ref(CommitmentSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => {
      const b = request.body
      const created = await commitments.create(request.principal, {
        ...(b.agent ? { agent: b.agent } : {}),
        sessionKey: parseSessionKey(b.sessionKey),
        text: b.text,
        dueAt: new Date(b.dueAt),
      })
      return reply.code(201).send(toCommitment(created))
    },
  )

  app.post(
    '/commitments/:id/fulfill',
    {
      schema: {
        operationId: 'fulfillCommitment',
        summary: 'Mark a commitment fulfilled',
        description: 'Only an open commitment (409 otherwise); it will not be followed up.',
        tags: [TAG],
        params: CommitmentParams,
        body: FulfillBody,
        response: { 200: ref(CommitmentSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toCommitment(await commitments.fulfill(request.principal, request.params.id, request.body?.note)),
  )

  app.post(
    '/commitments/:id/cancel',
    {
      schema: {
        operationId: 'cancelCommitment',
        summary: 'Cancel a commitment',
        description: 'Only an open commitment (409 otherwise); it will not be followed up.',
        tags: [TAG],
        params: CommitmentParams,
        response: { 200: ref(CommitmentSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toCommitment(await commitments.cancel(request.principal, request.params.id)),
  )
}

/** `/commitments`: promises with a due time, followed up once. */
export const commitmentsFeature = defineFeature({
  tag: { name: TAG, description: 'What agents promised to do by a due time; a due open one starts one follow-up run in its session.' },
  components: commitmentComponents,
  needs: ['commitments'],
  plugin: commitmentsRoutes,
})
