import {
  type CatalogModel,
  ChatCompletionChunkSchema,
  ChatCompletionRequestSchema,
  ChatCompletionSchema,
  EmbeddingsRequestSchema,
  ResponseObjectSchema,
  ResponsesRequestSchema,
  EmbeddingsResponseSchema,
  OpenAIErrorSchema,
  OpenAIModelListSchema,
  OpenAIModelParamsSchema,
  OpenAIModelSchema,
} from '@openvesper/compat'
import type { AgentRegistry } from '@openvesper/core'
import type { TSchema } from 'typebox'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { PROBLEM_STATUSES, problemResponse } from '../../http/errors.js'
import { idempotencyKey } from '../../http/params.js'
import { SessionKeySchema } from '../../schemas/session-key.js'
import type { Passthrough } from '../../passthrough/index.js'

/**
 * The OpenAI wire schemas of `@openvesper/compat` as named components (`OpenAI.<Name>`, STYLE.md 5.2). They
 * accept fields they do not declare, as OpenAI does (see the policy at the top of compat's `chat.schemas.ts`).
 */
const named = <T extends TSchema>(schema: T, id: string): T => ({ ...schema, $id: id })

export const ChatCompletionRequest = named(ChatCompletionRequestSchema, 'OpenAI.ChatCompletionRequest')
export const ChatCompletion = named(ChatCompletionSchema, 'OpenAI.ChatCompletion')
const ChatCompletionChunk = named(ChatCompletionChunkSchema, 'OpenAI.ChatCompletionChunk')
export const OpenAIModel = named(OpenAIModelSchema, 'OpenAI.Model')
export const OpenAIModelList = named(OpenAIModelListSchema, 'OpenAI.ModelList')
const OpenAIErrorBody = named(OpenAIErrorSchema, 'OpenAI.Error')
export const EmbeddingsRequest = named(EmbeddingsRequestSchema, 'OpenAI.EmbeddingsRequest')
export const EmbeddingsResponse = named(EmbeddingsResponseSchema, 'OpenAI.EmbeddingsResponse')
export const ResponsesRequest = named(ResponsesRequestSchema, 'OpenAI.ResponsesRequest')
export const ResponseObject = named(ResponseObjectSchema, 'OpenAI.Response')

export const openaiComponents = [
  ChatCompletionRequest,
  ChatCompletion,
  ChatCompletionChunk,
  OpenAIModel,
  OpenAIModelList,
  OpenAIErrorBody,
  EmbeddingsRequest,
  EmbeddingsResponse,
  ResponsesRequest,
  ResponseObject,
]

/**
 * Every error status of the code table, documented with OpenAI's error body instead of the Problem component
 * (declared on each route, so the native API's hook leaves them alone).
 */
export const openaiErrorResponses = Object.fromEntries(
  PROBLEM_STATUSES.map((status) => [
    status,
    {
      description: problemResponse(status).description,
      content: { 'application/json': { schema: ref(OpenAIErrorBody) } },
    },
  ]),
)

/** `GET /v1/models/{model_id}` (openai-node sends `openai%2Fgpt-4o-mini`, which arrives decoded). */
export const ModelParams = Type.Object(OpenAIModelParamsSchema.properties, { additionalProperties: false })
/** The undocumented twin `GET /v1/models/*`, for clients that send the slash of `provider/model` unencoded. */
export const ModelPathParams = Type.Object({ '*': Type.String({ minLength: 1 }) }, { additionalProperties: false })

export const ChatHeaders = Type.Object({
  'x-session-key': Type.Optional({
    ...SessionKeySchema,
    description:
      'Runs the agent in this session (its history, its transcript), like `sessionKey` on POST /agent. HTTP header values are read as Latin-1: use ASCII keys here.',
  }),
  'idempotency-key': Type.Optional(idempotencyKey('Makes the call idempotent: a retry with the same key answers with the same run.')),
})

export const CHAT_STREAM_DESCRIPTION =
  'With `stream: true`: server-sent events, each `data:` line one `OpenAI.ChatCompletionChunk` (the role chunk first, then content deltas, then a chunk with `finish_reason`, then with `stream_options.include_usage` a chunk with `choices: []` and the usage), ending with `data: [DONE]`. A run that fails mid-stream ends with one `data: {"error": {…}}` line (OpenAI error shape) and no `[DONE]`.'

/** The models `/v1/models` lists: every agent, then the default model (unless an agent has its id), then the aliases. */
export function catalog(agents: AgentRegistry, defaultModel: string, passthrough: Pick<Passthrough, 'listed'>): CatalogModel[] {
  const list: CatalogModel[] = agents.list().map((agent) => ({ id: agent.id, kind: 'agent' }))
  if (!agents.has(defaultModel))
    list.push({ id: defaultModel, kind: 'model', provider: defaultModel.includes('/') ? defaultModel.split('/')[0] : defaultModel })
  for (const alias of passthrough.listed()) if (!list.some((m) => m.id === alias.id)) list.push({ id: alias.id, kind: 'model', provider: alias.provider })
  return list
}
