import {
  AnthropicErrorSchema,
  AnthropicMessageSchema,
  AnthropicModelListQuerySchema,
  AnthropicModelListSchema,
  AnthropicModelSchema,
  type CatalogModel,
  CountTokensRequestSchema,
  CountTokensResponseSchema,
  MessageStreamEventSchema,
  MessagesRequestSchema,
} from '@openvesper/compat'
import type { AgentRegistry } from '@openvesper/core'
import type { TSchema } from 'typebox'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { PROBLEM_STATUSES, problemResponse } from '../../http/errors.js'
import { idempotencyKey } from '../../http/params.js'
import { SessionKeySchema } from '../../schemas/session-key.js'

/**
 * The Anthropic wire schemas of `@openvesper/compat` as named components (`Anthropic.<Name>`, STYLE.md 5.2). They
 * accept fields they do not declare, as Anthropic's API does (policy at the top of compat's `messages.schemas.ts`).
 */
const named = <T extends TSchema>(schema: T, id: string): T => ({ ...schema, $id: id })

export const MessagesRequest = named(MessagesRequestSchema, 'Anthropic.MessagesRequest')
export const AnthropicMessage = named(AnthropicMessageSchema, 'Anthropic.Message')
const MessageStreamEvent = named(MessageStreamEventSchema, 'Anthropic.MessageStreamEvent')
export const CountTokensRequest = named(CountTokensRequestSchema, 'Anthropic.CountTokensRequest')
export const CountTokensResponse = named(CountTokensResponseSchema, 'Anthropic.CountTokensResponse')
export const AnthropicModel = named(AnthropicModelSchema, 'Anthropic.Model')
export const AnthropicModelList = named(AnthropicModelListSchema, 'Anthropic.ModelList')
const AnthropicErrorBody = named(AnthropicErrorSchema, 'Anthropic.Error')

export const anthropicComponents = [
  MessagesRequest,
  AnthropicMessage,
  MessageStreamEvent,
  CountTokensRequest,
  CountTokensResponse,
  AnthropicModel,
  AnthropicModelList,
  AnthropicErrorBody,
]

/** Every error status of the code table, documented with Anthropic's error body instead of the Problem component. */
export const anthropicErrorResponses = Object.fromEntries(
  PROBLEM_STATUSES.map((status) => [
    status,
    { description: problemResponse(status).description, content: { 'application/json': { schema: ref(AnthropicErrorBody) } } },
  ]),
)

/** The headers every Anthropic client sends: accepted with any value, never required (see the route description). */
const versionHeaders = {
  'anthropic-version': Type.Optional(
    Type.String({ maxLength: 64, description: 'Accepted with any value and not required; the gateway speaks the 2023-06-01 wire format.' }),
  ),
  'anthropic-beta': Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored: no beta feature changes an answer here.' })),
}

export const AnthropicHeaders = Type.Object(versionHeaders)

export const MessagesHeaders = Type.Object({
  ...versionHeaders,
  'x-session-key': Type.Optional({
    ...SessionKeySchema,
    description:
      'Agent models: runs the agent in this session (its history, its transcript), like `sessionKey` on POST /agent. Read as Latin-1: use ASCII keys.',
  }),
  'idempotency-key': Type.Optional(idempotencyKey('Agent models: a retry with the same key answers with the same run.')),
})

export const ModelListQuery = Type.Object(AnthropicModelListQuerySchema.properties, { additionalProperties: false })
/** `GET /anthropic/v1/models/{model_id}`: the SDK percent-encodes the slash of `provider/model`. */
export const ModelParams = Type.Object({ model_id: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false })
/** The undocumented twin `GET /anthropic/v1/models/*`, for clients that send the slash unencoded. */
export const ModelPathParams = Type.Object({ '*': Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false })

export const MESSAGES_STREAM_DESCRIPTION =
  'With `stream: true`: server-sent events as Anthropic sends them, each `event: <type>` with `data:` one `Anthropic.MessageStreamEvent`: `message_start` (the message with empty content), `ping`, then per content block `content_block_start`, `content_block_delta` (`text_delta`, or `input_json_delta` for a tool_use block), `content_block_stop`, then `message_delta` (stop_reason, stop_sequence, usage) and `message_stop`. A failure after the stream opened ends it with one `event: error` (Anthropic error body).'

/** The models `/anthropic/v1/models` lists: every agent, then the default model (unless an agent has its id). */
export function catalog(agents: AgentRegistry, defaultModel: string): CatalogModel[] {
  const list: CatalogModel[] = agents.list().map((agent) => ({ id: agent.id, kind: 'agent' }))
  if (!agents.has(defaultModel))
    list.push({ id: defaultModel, kind: 'model', provider: defaultModel.includes('/') ? defaultModel.split('/')[0] : defaultModel })
  return list
}
