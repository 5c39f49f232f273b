import type { Db, StandingOrderRow } from '@openvesper/db'
import { invalidRequest, newId, notFound } from '@openvesper/shared'
import { createStandingOrdersRepo } from './standing-orders.repo.js'

export interface CreateStandingOrderInput {
  text: string
  /** The agents it applies to; absent: every agent. */
  agents?: string[]
  enabled?: boolean
}

/**
 * What prompt assembly asks a context source (core's `ContextSource`, matched structurally: the scheduler does not
 * import core).
 */
export interface ContextQuery {
  principalId: string
  agentId: string
}
export interface ContextBlockOut {
  source: string
  text: string
  refs?: string[]
}

/** Renders the active orders as the one system block a run receives (numbered, in their stable order). */
export function renderStandingOrders(orders: readonly Pick<StandingOrderRow, 'text'>[]): string {
  if (orders.length === 0) return ''
  return `Standing orders (follow them in every reply):\n${orders.map((o, i) => `${i + 1}. ${o.text}`).join('\n')}`
}

/** Standing orders: instructions added to every run of the agents they target, until removed or toggled off. */
export function createStandingOrdersService(deps: { db: Db; agentExists: (agentId: string) => boolean }) {
  const repo = createStandingOrdersRepo(deps.db)
  return {
    async create(principal: { id: string }, input: CreateStandingOrderInput): Promise<StandingOrderRow> {
      const agents = input.agents ? [...new Set(input.agents)] : null
      for (const [i, agent] of (agents ?? []).entries()) {
        if (!deps.agentExists(agent)) throw invalidRequest(`unknown agent '${agent}'`, [{ path: `/agents/${i}`, message: 'no such agent' }])
      }
      return repo.insert({ id: newId('standingOrder'), principalId: principal.id, text: input.text, agentIds: agents, enabled: input.enabled ?? true })
    },
    list: (principal: { id: string }) => repo.list(principal.id),
    async delete(principal: { id: string }, id: string): Promise<void> {
      if (!(await repo.delete(principal.id, id))) throw notFound('standing order', id)
    },
    async toggle(principal: { id: string }, id: string): Promise<StandingOrderRow> {
      const row = await repo.toggle(principal.id, id)
      if (!row) throw notFound('standing order', id)
      return row
    },
    /** The context source prompt assembly runs: the principal's active orders for the run's agent, one block. */
    contextSource: {
      name: 'standing_orders',
      async collect(request: ContextQuery): Promise<ContextBlockOut[]> {
        const orders = await repo.activeFor(request.principalId, request.agentId)
        if (orders.length === 0) return []
        return [{ source: 'standing_orders', text: renderStandingOrders(orders), refs: orders.map((o) => o.id) }]
      },
    },
  }
}
export type StandingOrdersService = ReturnType<typeof createStandingOrdersService>
