import type { StandingOrderRow } from '@openvesper/db'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern } from '../../http/params.js'

export const StandingOrderSchema = Type.Object(
  {
    id: Type.String({ description: 'Standing order id (`sto_…`).' }),
    text: Type.String({ description: 'The instruction every targeted run receives.' }),
    agents: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'The agents it targets; null: every agent.' }),
    enabled: Type.Boolean({ description: 'False once toggled off (kept, not applied).' }),
    position: Type.Integer({ description: 'Its place in the stable order runs receive the orders in.' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'StandingOrder', additionalProperties: false },
)

export const StandingOrderListSchema = Type.Object({ items: Type.Array(ref(StandingOrderSchema)) }, { $id: 'StandingOrderList', additionalProperties: false })

export const CreateStandingOrderBody = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 10_000 }),
    agents: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }), {
        minItems: 1,
        maxItems: 100,
        description: 'Target only these agents (default: every agent).',
      }),
    ),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const StandingOrderParams = Type.Object({ id: idPattern('standingOrder') }, { additionalProperties: false })

export const standingOrderComponents = [StandingOrderSchema, StandingOrderListSchema]

export const toStandingOrder = (row: StandingOrderRow): Static<typeof StandingOrderSchema> => ({
  id: row.id,
  text: row.text,
  agents: row.agentIds,
  enabled: row.enabled,
  position: row.position,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})
