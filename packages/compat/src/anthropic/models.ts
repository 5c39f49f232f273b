import { type Static, Type } from 'typebox'
import type { CatalogModel } from '../openai/models.js'

/**
 * `GET /anthropic/v1/models`: `{ data: [{ type: 'model', id, display_name, created_at }], has_more, first_id,
 * last_id }`, paged with `limit`, `before_id`, `after_id` (the SDK's auto-pagination follows `last_id`).
 */
export const AnthropicModelSchema = Type.Object({
  type: Type.Literal('model'),
  id: Type.String(),
  display_name: Type.String(),
  /** RFC 3339 */
  created_at: Type.String(),
})
export type AnthropicModel = Static<typeof AnthropicModelSchema>

export const AnthropicModelListSchema = Type.Object({
  data: Type.Array(AnthropicModelSchema),
  has_more: Type.Boolean(),
  first_id: Type.Union([Type.String(), Type.Null()]),
  last_id: Type.Union([Type.String(), Type.Null()]),
})
export type AnthropicModelList = Static<typeof AnthropicModelListSchema>

export const AnthropicModelListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
  before_id: Type.Optional(Type.String()),
  after_id: Type.Optional(Type.String()),
})
export type AnthropicModelListQuery = Static<typeof AnthropicModelListQuerySchema>

export function toAnthropicModel(model: CatalogModel): AnthropicModel {
  return {
    type: 'model',
    id: model.id,
    display_name: model.displayName ?? (model.kind === 'agent' ? `${model.id} (agent)` : model.id),
    created_at: new Date((model.created ?? 0) * 1000).toISOString(),
  }
}

/** One page of the catalogue in its given order (`after_id` / `before_id` are ids of that order). */
export function toAnthropicModelList(models: CatalogModel[], query: AnthropicModelListQuery = {}): AnthropicModelList {
  const limit = query.limit ?? 20
  const indexOf = (id: string) => models.findIndex((m) => m.id === id)
  // An id not in the catalogue gives an empty page.
  let start = 0
  let end = models.length
  if (query.after_id !== undefined) {
    const i = indexOf(query.after_id)
    start = i < 0 ? models.length : i + 1
  }
  if (query.before_id !== undefined) {
    const i = indexOf(query.before_id)
    end = Math.max(i, 0)
    start = Math.max(start, end - limit)
  }
  const page = models.slice(start, Math.min(end, start + limit)).map(toAnthropicModel)
  const hasMore = query.before_id !== undefined ? start > 0 : start + page.length < end
  return { data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null }
}
