import { type Static, type TSchema, Type } from 'typebox'
import { MetadataSchema, Nullable, StringEnum } from '../schema.js'

/**
 * `POST /v1/responses` and the objects around it, as the OpenAI Responses API defines them (openai-node 6
 * `ResponseCreateParams`, `Response`, `ResponseStreamEvent`).
 *
 * Unknown fields follow the chat completions policy (`chat.schemas.ts`): undeclared properties are accepted and
 * ignored; `reasoning`, `include`, `truncation`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`,
 * `safety_identifier`, `stream_options`, `top_logprobs`, `context_management` are declared and ignored; the
 * mapper refuses what it cannot honour without changing the answer: `conversation` and `prompt` (server-side
 * state and templates the gateway does not keep; use `previous_response_id`), `item_reference` items,
 * non-function (hosted) tools and tool choices, and image/file input parts.
 */

/** Any object whose `type` is none of `known`: accepted so the mapper can refuse it by name. */
const OtherTyped = (known: readonly string[]) =>
  Type.Unsafe<{ type: string; [key: string]: unknown }>({
    type: 'object',
    required: ['type'],
    properties: { type: { type: 'string', not: { enum: [...known] } } },
  })

const InputTextSchema = Type.Object({ type: Type.Literal('input_text'), text: Type.String() })
const OutputTextInputSchema = Type.Object({ type: Type.Literal('output_text'), text: Type.String() })
const RefusalInputSchema = Type.Object({ type: Type.Literal('refusal'), refusal: Type.String() })
const InputImageSchema = Type.Object({ type: Type.Literal('input_image') })
const InputFileSchema = Type.Object({ type: Type.Literal('input_file') })
export const InputContentPartSchema = Type.Union([InputTextSchema, OutputTextInputSchema, RefusalInputSchema, InputImageSchema, InputFileSchema])

const ItemStatus = Type.Optional(Nullable(StringEnum(['in_progress', 'completed', 'incomplete'] as const)))

export const InputMessageItemSchema = Type.Object({
  type: Type.Optional(Type.Literal('message')),
  id: Type.Optional(Type.String()),
  role: StringEnum(['user', 'assistant', 'system', 'developer'] as const),
  content: Type.Union([Type.String(), Type.Array(InputContentPartSchema)]),
  status: ItemStatus,
})
export const FunctionCallItemSchema = Type.Object({
  type: Type.Literal('function_call'),
  id: Type.Optional(Type.String()),
  call_id: Type.String(),
  name: Type.String(),
  arguments: Type.String(),
  status: ItemStatus,
})
export const FunctionCallOutputItemSchema = Type.Object({
  type: Type.Literal('function_call_output'),
  id: Type.Optional(Nullable(Type.String())),
  call_id: Type.String(),
  output: Type.Union([Type.String(), Type.Array(Type.Union([InputTextSchema, InputImageSchema, InputFileSchema]))]),
  status: ItemStatus,
})
const ItemReferenceSchema = Type.Object({ type: Type.Literal('item_reference'), id: Type.String() })
const ReasoningItemSchema = Type.Object({ type: Type.Literal('reasoning') })

export const InputItemSchema = Type.Union([
  InputMessageItemSchema,
  FunctionCallItemSchema,
  FunctionCallOutputItemSchema,
  ItemReferenceSchema,
  ReasoningItemSchema,
  OtherTyped(['message', 'function_call', 'function_call_output', 'item_reference', 'reasoning']),
])
export type InputItem = Static<typeof InputItemSchema>

export const ResponsesFunctionToolSchema = Type.Object({
  type: Type.Literal('function'),
  name: Type.String({ minLength: 1, maxLength: 64 }),
  description: Type.Optional(Nullable(Type.String())),
  parameters: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  strict: Type.Optional(Nullable(Type.Boolean())),
})
/** Hosted tools (`web_search`, `file_search`, `code_interpreter`, `mcp`, …): refused by the mapper. */
export const ResponsesToolSchema = Type.Union([ResponsesFunctionToolSchema, OtherTyped(['function'])])
export type ResponsesTool = Static<typeof ResponsesToolSchema>

export const ResponsesToolChoiceSchema = Type.Union([
  StringEnum(['none', 'auto', 'required'] as const),
  Type.Object({ type: Type.Literal('function'), name: Type.String() }),
  Type.Object({
    type: Type.Literal('allowed_tools'),
    mode: StringEnum(['auto', 'required'] as const),
    tools: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  }),
  OtherTyped(['function', 'allowed_tools']),
])
export type ResponsesToolChoice = Static<typeof ResponsesToolChoiceSchema>

export const ResponsesTextFormatSchema = Type.Union([
  Type.Object({ type: Type.Literal('text') }),
  Type.Object({ type: Type.Literal('json_object') }),
  Type.Object({
    type: Type.Literal('json_schema'),
    name: Type.String(),
    schema: Type.Record(Type.String(), Type.Unknown()),
    description: Type.Optional(Type.String()),
    strict: Type.Optional(Nullable(Type.Boolean())),
  }),
])
const TextConfigSchema = Type.Object({
  format: Type.Optional(ResponsesTextFormatSchema),
  verbosity: Type.Optional(Nullable(Type.String())),
})

const sampling = {
  temperature: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 2 }))),
  top_p: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1 }))),
  max_output_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }))),
  parallel_tool_calls: Type.Optional(Nullable(Type.Boolean())),
  metadata: Type.Optional(Nullable(MetadataSchema)),
  text: Type.Optional(TextConfigSchema),
  truncation: Type.Optional(Nullable(StringEnum(['auto', 'disabled'] as const))),
  user: Type.Optional(Type.String()),
} satisfies Record<string, TSchema>

export const ResponsesRequestSchema = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Optional(Type.Union([Type.String(), Type.Array(InputItemSchema)])),
  instructions: Type.Optional(Nullable(Type.String())),
  tools: Type.Optional(Type.Array(ResponsesToolSchema)),
  tool_choice: Type.Optional(ResponsesToolChoiceSchema),
  stream: Type.Optional(Nullable(Type.Boolean())),
  background: Type.Optional(Nullable(Type.Boolean())),
  previous_response_id: Type.Optional(Nullable(Type.String())),
  store: Type.Optional(Nullable(Type.Boolean())),
  ...sampling,
  // Refused by the mapper (see above).
  conversation: Type.Optional(Nullable(Type.Union([Type.String(), Type.Object({ id: Type.String() })]))),
  prompt: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  // Accepted and ignored (see above).
  reasoning: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  include: Type.Optional(Nullable(Type.Array(Type.String()))),
  service_tier: Type.Optional(Nullable(Type.String())),
  prompt_cache_key: Type.Optional(Type.String()),
  prompt_cache_retention: Type.Optional(Nullable(Type.String())),
  safety_identifier: Type.Optional(Type.String()),
  stream_options: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  top_logprobs: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 20 }))),
  context_management: Type.Optional(Nullable(Type.Array(Type.Record(Type.String(), Type.Unknown())))),
})
export type ResponsesRequest = Static<typeof ResponsesRequestSchema>

/** `queued` and `in_progress` are the live statuses (background mode); the rest are final. */
export const RESPONSE_STATUSES = ['queued', 'in_progress', 'completed', 'failed', 'cancelled', 'incomplete'] as const
export type ResponseStatus = (typeof RESPONSE_STATUSES)[number]
export const ResponseStatusSchema = StringEnum(RESPONSE_STATUSES)

export const OutputTextSchema = Type.Object({
  type: Type.Literal('output_text'),
  text: Type.String(),
  annotations: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  logprobs: Type.Optional(Type.Array(Type.Unknown())),
})
export type OutputText = Static<typeof OutputTextSchema>

const OutputItemStatus = StringEnum(['in_progress', 'completed', 'incomplete'] as const)
export const OutputMessageSchema = Type.Object({
  type: Type.Literal('message'),
  id: Type.String(),
  status: OutputItemStatus,
  role: Type.Literal('assistant'),
  content: Type.Array(OutputTextSchema),
})
export const OutputFunctionCallSchema = Type.Object({
  type: Type.Literal('function_call'),
  id: Type.String(),
  call_id: Type.String(),
  name: Type.String(),
  arguments: Type.String(),
  status: OutputItemStatus,
})
export const OutputItemSchema = Type.Union([OutputMessageSchema, OutputFunctionCallSchema])
export type OutputItem = Static<typeof OutputItemSchema>

export const ResponseUsageSchema = Type.Object({
  input_tokens: Type.Integer(),
  input_tokens_details: Type.Object({ cached_tokens: Type.Integer() }),
  output_tokens: Type.Integer(),
  output_tokens_details: Type.Object({ reasoning_tokens: Type.Integer() }),
  total_tokens: Type.Integer(),
})
export type ResponseUsage = Static<typeof ResponseUsageSchema>

/** The response object (`object: 'response'`), as created, polled, streamed in lifecycle events and stored. */
export const ResponseObjectSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('response'),
  created_at: Type.Integer({ description: 'Unix seconds' }),
  status: ResponseStatusSchema,
  model: Type.String(),
  output: Type.Array(OutputItemSchema),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  incomplete_details: Nullable(Type.Object({ reason: StringEnum(['max_output_tokens', 'content_filter'] as const) })),
  instructions: Nullable(Type.String()),
  tools: Type.Array(ResponsesFunctionToolSchema),
  tool_choice: ResponsesToolChoiceSchema,
  parallel_tool_calls: Type.Boolean(),
  temperature: Nullable(Type.Number()),
  top_p: Nullable(Type.Number()),
  max_output_tokens: Nullable(Type.Integer()),
  previous_response_id: Nullable(Type.String()),
  metadata: MetadataSchema,
  background: Type.Boolean(),
  store: Type.Boolean(),
  text: Type.Object({ format: ResponsesTextFormatSchema }),
  truncation: StringEnum(['auto', 'disabled'] as const),
  usage: Nullable(ResponseUsageSchema),
  user: Type.Optional(Type.String()),
})
export type ResponseObject = Static<typeof ResponseObjectSchema>

export const ResponseParamsSchema = Type.Object({ response_id: Type.String({ minLength: 1 }) })

/** `GET /v1/responses/:id?stream=true&starting_after=N`: resume a (background) response's event stream after event N. */
export const RetrieveResponseQuerySchema = Type.Object({
  stream: Type.Optional(Type.Boolean()),
  starting_after: Type.Optional(Type.Integer({ minimum: -1 })),
  include: Type.Optional(Type.Array(Type.String())),
})

export const DeletedResponseSchema = Type.Object({ id: Type.String(), object: Type.Literal('response'), deleted: Type.Literal(true) })

/** `GET /v1/responses/:id/input_items`: the items the response was created from, newest first by default. */
export const InputItemListQuerySchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  order: Type.Optional(StringEnum(['asc', 'desc'] as const)),
  after: Type.Optional(Type.String()),
  before: Type.Optional(Type.String()),
})
export const InputItemListSchema = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  first_id: Nullable(Type.String()),
  last_id: Nullable(Type.String()),
  has_more: Type.Boolean(),
})

/**
 * The streaming event names the gateway sends (`event:` and `type` carry the same name), in the order a
 * response goes through them; every event has a `sequence_number`, counting from 0, that `starting_after` refers to.
 */
export const RESPONSE_STREAM_EVENTS = [
  'response.created',
  'response.queued',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.done',
  'response.content_part.done',
  'response.function_call_arguments.delta',
  'response.function_call_arguments.done',
  'response.output_item.done',
  'response.completed',
  'response.incomplete',
  'response.failed',
  'error',
] as const
export type ResponseStreamEventName = (typeof RESPONSE_STREAM_EVENTS)[number]

const seq = { sequence_number: Type.Integer({ minimum: 0 }) }
const at = { item_id: Type.String(), output_index: Type.Integer() }
export const ResponseStreamEventSchema = Type.Union([
  Type.Object({
    type: StringEnum(['response.created', 'response.queued', 'response.in_progress', 'response.completed', 'response.incomplete', 'response.failed'] as const),
    response: ResponseObjectSchema,
    ...seq,
  }),
  Type.Object({
    type: StringEnum(['response.output_item.added', 'response.output_item.done'] as const),
    output_index: Type.Integer(),
    item: OutputItemSchema,
    ...seq,
  }),
  Type.Object({
    type: StringEnum(['response.content_part.added', 'response.content_part.done'] as const),
    ...at,
    content_index: Type.Integer(),
    part: OutputTextSchema,
    ...seq,
  }),
  Type.Object({
    type: Type.Literal('response.output_text.delta'),
    ...at,
    content_index: Type.Integer(),
    delta: Type.String(),
    logprobs: Type.Array(Type.Unknown()),
    ...seq,
  }),
  Type.Object({
    type: Type.Literal('response.output_text.done'),
    ...at,
    content_index: Type.Integer(),
    text: Type.String(),
    logprobs: Type.Array(Type.Unknown()),
    ...seq,
  }),
  Type.Object({ type: Type.Literal('response.function_call_arguments.delta'), ...at, delta: Type.String(), ...seq }),
  Type.Object({ type: Type.Literal('response.function_call_arguments.done'), ...at, name: Type.String(), arguments: Type.String(), ...seq }),
  Type.Object({ type: Type.Literal('error'), code: Nullable(Type.String()), message: Type.String(), param: Nullable(Type.String()), ...seq }),
])
export type ResponseStreamEvent = Static<typeof ResponseStreamEventSchema>
