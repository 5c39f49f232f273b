import { type Db, type StandingOrderRow, standingOrders } from '@openvesper/db'
import { and, asc, eq, sql } from 'drizzle-orm'

/** The `standing_orders` queries; the only writer of the table. Every lookup is by (principal, id). */
export function createStandingOrdersRepo(db: Db) {
  const owned = (principalId: string, id: string) => and(eq(standingOrders.principalId, principalId), eq(standingOrders.id, id))
  return {
    /** Appends an order after the principal's last one (its position is the next in the stable order). */
    async insert(order: Pick<StandingOrderRow, 'id' | 'principalId' | 'text' | 'agentIds' | 'enabled'>): Promise<StandingOrderRow> {
      const [row] = await db
        .insert(standingOrders)
        .values({
          ...order,
          position: sql`(select coalesce(max(position), 0) + 1 from standing_orders where principal_id = ${order.principalId})`,
        })
        .returning()
      return row!
    },

    /** The principal's orders in their stable order. */
    async list(principalId: string): Promise<StandingOrderRow[]> {
      return db.select().from(standingOrders).where(eq(standingOrders.principalId, principalId)).orderBy(asc(standingOrders.position), asc(standingOrders.id))
    },

    async delete(principalId: string, id: string): Promise<boolean> {
      return (await db.delete(standingOrders).where(owned(principalId, id)).returning({ id: standingOrders.id })).length > 0
    },

    async toggle(principalId: string, id: string): Promise<StandingOrderRow | undefined> {
      const [row] = await db
        .update(standingOrders)
        .set({ enabled: sql`not ${standingOrders.enabled}`, updatedAt: sql`now()` })
        .where(owned(principalId, id))
        .returning()
      return row
    },

    /** The enabled orders that target `agentId` (or every agent), in their stable order. */
    async activeFor(principalId: string, agentId: string): Promise<StandingOrderRow[]> {
      return db
        .select()
        .from(standingOrders)
        .where(
          and(
            eq(standingOrders.principalId, principalId),
            eq(standingOrders.enabled, true),
            sql`(${standingOrders.agentIds} is null or ${standingOrders.agentIds} @> ${JSON.stringify([agentId])}::jsonb)`,
          ),
        )
        .orderBy(asc(standingOrders.position), asc(standingOrders.id))
    },
  }
}
