import { type Static, type TSchema, Type } from 'typebox'
import { Nullable, StringEnum } from '../schema.js'

/**
 * `POST /anthropic/v1/messages` and `POST /anthropic/v1/messages/count_tokens` as the Anthropic Messages API
 * defines them (anthropic-sdk-typescript `MessageCreateParams`, `MessageCountTokensParams`).
 *
 * Unknown fields. As on the OpenAI surface, a client that works against Anthropic must not get a 400 for a
 * field it may send there:
 * - the request, messages, blocks and tools accept undeclared properties and ignore them (`cache_control`,
 *   `citations`, `container`, `mcp_servers`, `service_tier`, `context_management`, betas' fields…);
 * - `thinking` is declared (so a wrong shape is a 400) and ignored: the answer is still a complete message;
 * - block and tool types the Messages API has but the neutral text-and-tools contract cannot carry are accepted
 *   by the schema and refused by the mapper with an `invalid_request` naming the block (images, documents,
 *   search results, server tools); an assistant's earlier `thinking`/`redacted_thinking` blocks are dropped
 *   (they are the model's private reasoning, not conversation content);
 * - everything else (`model`, `max_tokens`, `system`, `messages`, `tools`, `tool_choice`, `stream`,
 *   `stop_sequences`, `temperature`, `top_p`, `top_k`, `metadata.user_id`) is mapped.
 */

/** Any block whose `type` is none of `known`: accepted here so the mapper can name it in a clear refusal. */
const OtherTyped = (known: readonly string[]) =>
  Type.Unsafe<{ type: string; [key: string]: unknown }>({
    type: 'object',
    required: ['type'],
    properties: { type: { type: 'string', not: { enum: [...known] } } },
  })

export const TextBlockParamSchema = Type.Object({ type: Type.Literal('text'), text: Type.String() })

const ImageSourceSchema = Type.Union([
  Type.Object({ type: Type.Literal('base64'), media_type: Type.String(), data: Type.String() }),
  Type.Object({ type: Type.Literal('url'), url: Type.String() }),
  Type.Object({ type: Type.Literal('file'), file_id: Type.String() }),
])
export const ImageBlockParamSchema = Type.Object({ type: Type.Literal('image'), source: ImageSourceSchema })

export const ToolUseBlockParamSchema = Type.Object({
  type: Type.Literal('tool_use'),
  id: Type.String(),
  name: Type.String(),
  input: Type.Record(Type.String(), Type.Unknown()),
})

export const ToolResultBlockParamSchema = Type.Object({
  type: Type.Literal('tool_result'),
  tool_use_id: Type.String(),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Union([TextBlockParamSchema, ImageBlockParamSchema, OtherTyped(['text', 'image'])]))])),
  is_error: Type.Optional(Type.Boolean()),
})

const ThinkingBlockParamSchema = Type.Object({ type: Type.Literal('thinking'), thinking: Type.String(), signature: Type.String() })
const RedactedThinkingBlockParamSchema = Type.Object({ type: Type.Literal('redacted_thinking'), data: Type.String() })

const KNOWN_BLOCKS = ['text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'] as const
export const ContentBlockParamSchema = Type.Union([
  TextBlockParamSchema,
  ImageBlockParamSchema,
  ToolUseBlockParamSchema,
  ToolResultBlockParamSchema,
  ThinkingBlockParamSchema,
  RedactedThinkingBlockParamSchema,
  OtherTyped(KNOWN_BLOCKS),
])
export type ContentBlockParam = Static<typeof ContentBlockParamSchema>

export const MessageParamSchema = Type.Object({
  role: StringEnum(['user', 'assistant'] as const),
  content: Type.Union([Type.String(), Type.Array(ContentBlockParamSchema)]),
})
export type MessageParam = Static<typeof MessageParamSchema>

/** A client tool (`type` absent or `custom`). */
export const CustomToolSchema = Type.Object({
  type: Type.Optional(Nullable(Type.Literal('custom'))),
  name: Type.String({ minLength: 1, maxLength: 128 }),
  description: Type.Optional(Type.String()),
  input_schema: Type.Record(Type.String(), Type.Unknown()),
})
/** Anthropic's server and versioned tools (`bash_20250124`, `web_search_20250305`, …): refused by the mapper. */
const ServerToolSchema = Type.Unsafe<{ type: string; name?: string; [key: string]: unknown }>({
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', not: { enum: ['custom'] } } },
})
export const AnthropicToolSchema = Type.Union([CustomToolSchema, ServerToolSchema])
export type AnthropicTool = Static<typeof AnthropicToolSchema>

export const AnthropicToolChoiceSchema = Type.Union([
  Type.Object({ type: Type.Literal('auto'), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }),
  Type.Object({ type: Type.Literal('any'), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }),
  Type.Object({ type: Type.Literal('tool'), name: Type.String(), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }),
  Type.Object({ type: Type.Literal('none') }),
])
export type AnthropicToolChoice = Static<typeof AnthropicToolChoiceSchema>

const SystemSchema = Type.Union([Type.String(), Type.Array(TextBlockParamSchema)])
const ThinkingConfigSchema = Type.Union([
  Type.Object({ type: Type.Literal('enabled'), budget_tokens: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }),
  Type.Object({ type: Type.Literal('disabled') }),
])

const conversation = {
  model: Type.String({ minLength: 1 }),
  messages: Type.Array(MessageParamSchema, { minItems: 1 }),
  system: Type.Optional(SystemSchema),
  tools: Type.Optional(Type.Array(AnthropicToolSchema)),
  tool_choice: Type.Optional(AnthropicToolChoiceSchema),
  thinking: Type.Optional(ThinkingConfigSchema),
} satisfies Record<string, TSchema>

export const MessagesRequestSchema = Type.Object({
  ...conversation,
  max_tokens: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
  stream: Type.Optional(Type.Boolean()),
  stop_sequences: Type.Optional(Type.Array(Type.String())),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  top_k: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  metadata: Type.Optional(Type.Object({ user_id: Type.Optional(Nullable(Type.String())) })),
})
export type MessagesRequest = Static<typeof MessagesRequestSchema>

export const CountTokensRequestSchema = Type.Object(conversation)
export type CountTokensRequest = Static<typeof CountTokensRequestSchema>

export const CountTokensResponseSchema = Type.Object({ input_tokens: Type.Integer() })
export type CountTokensResponse = Static<typeof CountTokensResponseSchema>

export const AnthropicStopReasonSchema = StringEnum([
  'end_turn',
  'max_tokens',
  'stop_sequence',
  'tool_use',
  'pause_turn',
  'refusal',
  'model_context_window_exceeded',
] as const)

export const TextBlockSchema = Type.Object({ type: Type.Literal('text'), text: Type.String() })
export const ToolUseBlockSchema = Type.Object({
  type: Type.Literal('tool_use'),
  id: Type.String(),
  name: Type.String(),
  input: Type.Record(Type.String(), Type.Unknown()),
})
export const ContentBlockSchema = Type.Union([TextBlockSchema, ToolUseBlockSchema])
export type ContentBlock = Static<typeof ContentBlockSchema>

export const AnthropicUsageSchema = Type.Object({
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  cache_creation_input_tokens: Type.Optional(Nullable(Type.Integer())),
  cache_read_input_tokens: Type.Optional(Nullable(Type.Integer())),
})
export type AnthropicUsage = Static<typeof AnthropicUsageSchema>

/** The non-streaming response (`type: 'message'`); also the `message` of `message_start` (empty content). */
export const AnthropicMessageSchema = Type.Object({
  id: Type.String(),
  type: Type.Literal('message'),
  role: Type.Literal('assistant'),
  model: Type.String(),
  content: Type.Array(ContentBlockSchema),
  stop_reason: Nullable(AnthropicStopReasonSchema),
  stop_sequence: Nullable(Type.String()),
  /** Set by Anthropic for refusals only; always null here. */
  stop_details: Type.Optional(Type.Null()),
  usage: AnthropicUsageSchema,
})
export type AnthropicMessage = Static<typeof AnthropicMessageSchema>

/** The SSE event names of a streamed message, in the order they can appear. `event:` carries the same name as `type`. */
export const MESSAGE_STREAM_EVENTS = [
  'message_start',
  'content_block_start',
  'ping',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'error',
] as const
export type MessageStreamEventName = (typeof MESSAGE_STREAM_EVENTS)[number]

export const AnthropicErrorSchema = Type.Object({
  type: Type.Literal('error'),
  error: Type.Object({ type: Type.String(), message: Type.String() }),
  request_id: Type.Optional(Type.String()),
})
export type AnthropicError = Static<typeof AnthropicErrorSchema>

export const MessageStreamEventSchema = Type.Union([
  Type.Object({ type: Type.Literal('message_start'), message: AnthropicMessageSchema }),
  Type.Object({ type: Type.Literal('content_block_start'), index: Type.Integer(), content_block: ContentBlockSchema }),
  Type.Object({ type: Type.Literal('ping') }),
  Type.Object({
    type: Type.Literal('content_block_delta'),
    index: Type.Integer(),
    delta: Type.Union([
      Type.Object({ type: Type.Literal('text_delta'), text: Type.String() }),
      Type.Object({ type: Type.Literal('input_json_delta'), partial_json: Type.String() }),
    ]),
  }),
  Type.Object({ type: Type.Literal('content_block_stop'), index: Type.Integer() }),
  Type.Object({
    type: Type.Literal('message_delta'),
    delta: Type.Object({ stop_reason: Nullable(AnthropicStopReasonSchema), stop_sequence: Nullable(Type.String()) }),
    usage: Type.Object({ output_tokens: Type.Integer(), input_tokens: Type.Optional(Nullable(Type.Integer())) }),
  }),
  Type.Object({ type: Type.Literal('message_stop') }),
  AnthropicErrorSchema,
])
export type MessageStreamEvent = Static<typeof MessageStreamEventSchema>
