import { type Db, modelUsage, type NewModelUsageRow } from '@openvesper/db'

/** The writer of `model_usage`: one multi-row insert per batch of pass-through calls. */
export interface ModelUsageRepo {
  insertMany(rows: NewModelUsageRow[]): Promise<void>
}

export function createModelUsageRepo(db: Db): ModelUsageRepo {
  return {
    async insertMany(rows) {
      if (rows.length === 0) return
      await db.insert(modelUsage).values(rows)
    },
  }
}
