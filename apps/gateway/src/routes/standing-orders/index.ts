import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import {
  CreateStandingOrderBody,
  StandingOrderListSchema,
  StandingOrderParams,
  StandingOrderSchema,
  standingOrderComponents,
  toStandingOrder,
} from './schemas.js'

const TAG = 'Standing orders'

/** Standing orders of the caller's principal: another principal's order is a 404. */
const standingOrdersRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'standingOrders'> }> = async (app, { services }) => {
  const { standingOrders } = services

  app.get(
    '/standing-orders',
    {
      schema: {
        operationId: 'listStandingOrders',
        summary: 'List standing orders',
        description: "The caller's standing orders in the stable order runs receive them.",
        tags: [TAG],
        response: { 200: ref(StandingOrderListSchema) },
      },
      config: { auth: { scopes: ['runs:read'] } },
    },
    async (request) => ({ items: (await standingOrders.list(request.principal)).map(toStandingOrder) }),
  )

  app.post(
    '/standing-orders',
    {
      schema: {
        operationId: 'createStandingOrder',
        summary: 'Add a standing order',
        description:
          "An instruction added to every run of the targeted agents (all, or a list) of the caller, after the agent's system prompt, in a stable order (oldest first), until removed or toggled off. An unknown agent is a 400.",
        tags: [TAG],
        body: CreateStandingOrderBody,
        response: { 201: ref(StandingOrderSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => reply.code(201).send(toStandingOrder(await standingOrders.create(request.principal, request.body))),
  )

  app.delete(
    '/standing-orders/:id',
    {
      schema: {
        operationId: 'deleteStandingOrder',
        summary: 'Remove a standing order',
        description: 'Runs started from now on no longer receive it.',
        tags: [TAG],
        params: StandingOrderParams,
        response: { 204: Type.Null({ description: 'Removed.' }) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => {
      await standingOrders.delete(request.principal, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/standing-orders/:id/toggle',
    {
      schema: {
        operationId: 'toggleStandingOrder',
        summary: 'Toggle a standing order',
        description: 'Switches it off (kept, not applied) or back on.',
        tags: [TAG],
        params: StandingOrderParams,
        response: { 200: ref(StandingOrderSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toStandingOrder(await standingOrders.toggle(request.principal, request.params.id)),
  )
}

/** `/standing-orders`: instructions every targeted run receives. */
export const standingOrdersFeature = defineFeature({
  tag: { name: TAG, description: 'Instructions added to every run of the agents they target, in a stable order.' },
  components: standingOrderComponents,
  needs: ['standingOrders'],
  plugin: standingOrdersRoutes,
})
