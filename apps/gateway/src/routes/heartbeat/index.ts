import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import { HeartbeatStatusSchema, heartbeatComponents, toHeartbeatAgent } from './schemas.js'

const TAG = 'Heartbeat'

const heartbeatRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'heartbeat'> }> = async (app, { services }) => {
  const { heartbeat } = services

  app.get(
    '/heartbeat/status',
    {
      schema: {
        operationId: 'getHeartbeatStatus',
        summary: 'Heartbeat status',
        description: 'Per agent with a heartbeat: its interval, its last beat (when, outcome, run id and status) and its next beat.',
        tags: [TAG],
        response: { 200: ref(HeartbeatStatusSchema) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async () => ({ agents: (await heartbeat.status()).map(toHeartbeatAgent) }),
  )

  app.post(
    '/heartbeat/reload',
    {
      schema: {
        operationId: 'reloadHeartbeat',
        summary: 'Reload heartbeats',
        description:
          "Re-reads the agents file's heartbeat settings without a restart: a changed interval fires on its new times from now, a removed heartbeat stops. A malformed agents file is a 400 and changes nothing.",
        tags: [TAG],
        response: { 200: ref(HeartbeatStatusSchema) },
      },
      config: { auth: { scopes: ['admin'] } },
    },
    async () => {
      await heartbeat.reload()
      return { agents: (await heartbeat.status()).map(toHeartbeatAgent) }
    },
  )
}

/** `/heartbeat`: per-agent periodic runs from the agents' config. */
export const heartbeatFeature = defineFeature({
  tag: { name: TAG, description: 'A periodic heartbeat run per agent that has one in its config; reloadable without a restart.' },
  components: heartbeatComponents,
  needs: ['heartbeat'],
  plugin: heartbeatRoutes,
})
