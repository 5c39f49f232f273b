import { type Static, Type } from 'typebox'
import { StringEnum } from '../schema.js'

/**
 * `GET /v1/models` and `GET /v1/models/:id`. OpenAI's model object is `{ id, object: 'model', created,
 * owned_by }`; the gateway lists its agents and its configured provider models in one list, and says which
 * each is in `owned_by` (`openvesper` for an agent, the provider name for a model) and in the extra `kind`
 * field (the SDKs keep unknown fields on the object).
 */
export const OpenAIModelSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('model'),
  created: Type.Integer({ description: 'Unix seconds' }),
  owned_by: Type.String(),
  kind: StringEnum(['agent', 'model'] as const),
})
export type OpenAIModel = Static<typeof OpenAIModelSchema>

export const OpenAIModelListSchema = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(OpenAIModelSchema),
})
export type OpenAIModelList = Static<typeof OpenAIModelListSchema>

/**
 * Model ids contain a slash (`openai/gpt-4o-mini`). openai-node encodes it (`/v1/models/openai%2Fgpt-4o-mini`),
 * other clients do not, so the route should match the rest of the path (`/v1/models/*`) rather than one segment.
 */
export const OpenAIModelParamsSchema = Type.Object({ model_id: Type.String({ minLength: 1 }) })

/** One entry of the gateway's model catalogue, whichever surface lists it. */
export interface CatalogModel {
  /** An agent id (`main`) or `provider/model` (`openai/gpt-4o-mini`). */
  id: string
  kind: 'agent' | 'model'
  /** The provider (`openai`, `anthropic`) of a model; unset for an agent. */
  provider?: string
  /** A human name (Anthropic's `display_name`); defaults to the id. */
  displayName?: string
  /** Unix seconds; 0 when unknown. */
  created?: number
}

export function toOpenAIModel(model: CatalogModel): OpenAIModel {
  return {
    id: model.id,
    object: 'model',
    created: model.created ?? 0,
    owned_by: model.kind === 'agent' ? 'openvesper' : (model.provider ?? model.id.split('/')[0] ?? 'openvesper'),
    kind: model.kind,
  }
}

export function toOpenAIModelList(models: CatalogModel[]): OpenAIModelList {
  return { object: 'list', data: models.map(toOpenAIModel) }
}
