import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { defineFeature } from '../../http/feature.js'

export const HealthSchema = Type.Object(
  { status: Type.Literal('ok') },
  { additionalProperties: false, description: 'Liveness only: no version, configuration, hostnames or counts.' },
)

/** GET /health: the only public route. */
const systemRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness check',
        description: 'Answers while the process serves HTTP. Needs no token and reveals nothing else.',
        tags: ['System'],
        response: { 200: HealthSchema },
      },
      config: { auth: { public: true } },
    },
    async () => ({ status: 'ok' as const }),
  )
}

/** `GET /health`. */
export const systemFeature = defineFeature({
  tag: { name: 'System', description: 'Liveness.' },
  needs: [],
  plugin: systemRoutes,
})
