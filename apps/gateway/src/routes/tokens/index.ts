import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound } from '@openvesper/shared'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import { ApiTokenListSchema, CreateApiTokenBody, CreatedApiTokenSchema, TokenParams, toApiToken, tokenComponents } from './schemas.js'

/** Token management: admin only. */
const tokensRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'tokens'> }> = async (app, { services }) => {
  app.post(
    '/auth/tokens',
    {
      schema: {
        operationId: 'createToken',
        summary: 'Create a bearer token',
        description: 'Returns the secret once; only its SHA-256 is stored. Scopes are bound here and nowhere else.',
        tags: ['Tokens'],
        body: CreateApiTokenBody,
        response: { 201: ref(CreatedApiTokenSchema) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async (request, reply) => {
      const { token, record } = await services.tokens.create(request.body)
      return reply.code(201).send({ ...toApiToken(record), token })
    },
  )

  app.get(
    '/auth/tokens',
    {
      schema: {
        operationId: 'listTokens',
        summary: 'List bearer tokens',
        description: 'Every token, revoked ones included, oldest first. Secrets are never returned.',
        tags: ['Tokens'],
        response: { 200: ref(ApiTokenListSchema) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async () => ({ items: (await services.tokens.list()).map(toApiToken) }),
  )

  app.delete(
    '/auth/tokens/:tokenId',
    {
      schema: {
        operationId: 'revokeToken',
        summary: 'Revoke a bearer token',
        description: 'Takes effect on the next request made with the token. Revoking a revoked token is a no-op.',
        tags: ['Tokens'],
        params: TokenParams,
        response: { 204: Type.Null({ description: 'Revoked.' }) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async (request, reply) => {
      if (!(await services.tokens.revoke(request.params.tokenId))) throw notFound('token', request.params.tokenId)
      return reply.code(204).send(null)
    },
  )
}

/** `/auth/tokens`: bearer token management. */
export const tokensFeature = defineFeature({
  tag: { name: 'Tokens', description: 'Bearer token management (admin).' },
  components: tokenComponents,
  needs: ['tokens'],
  plugin: tokensRoutes,
})
