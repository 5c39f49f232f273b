import { type Static, Type } from 'typebox'
import { MetadataSchema, Nullable, StringEnum } from '../schema.js'

/**
 * `POST /v1/chat/completions` as the OpenAI API defines it (openai-node 6 `ChatCompletionCreateParams`).
 *
 * Unknown fields. OpenAI clients send many parameters, and new SDK versions add more; a client that works
 * against OpenAI must not get a 400 here for a field it was allowed to send there. So:
 * - the request object and every message, part and tool object accept properties they do not declare and
 *   ignore them (`additionalProperties` is left open);
 * - fields we know and cannot honour but whose absence does not change what the client gets back are
 *   declared with their types (so a wrong type is still a 400) and ignored: `frequency_penalty`,
 *   `presence_penalty`, `logit_bias`, `logprobs`, `top_logprobs` (responses carry `logprobs: null`),
 *   `service_tier`, `store`, `prompt_cache_key`, `prompt_cache_retention`, `safety_identifier`,
 *   `reasoning_effort`, `verbosity`, `prediction`, `web_search_options`;
 * - fields whose silent omission would give the client something other than it asked for are declared and
 *   refused by the mapper with a clear `invalid_request` naming the field: `n` other than 1, `audio` and
 *   `modalities` with `audio`, the deprecated `functions`/`function_call` (and `function` messages; use
 *   `tools`), `custom` tools, image/audio/file content parts (the neutral contract is text only);
 * - everything else (`model`, `messages`, `tools`, `tool_choice`, `stream`, `stream_options`, `temperature`,
 *   `top_p`, `max_tokens`/`max_completion_tokens`, `stop`, `user`, `metadata`, `seed`, `response_format`,
 *   `parallel_tool_calls`) is mapped.
 * Nullable fields accept `null` as "not set", as OpenAI does.
 */

const TextPartSchema = Type.Object({ type: Type.Literal('text'), text: Type.String() })
const ImagePartSchema = Type.Object({
  type: Type.Literal('image_url'),
  image_url: Type.Object({ url: Type.String(), detail: Type.Optional(StringEnum(['auto', 'low', 'high'] as const)) }),
})
const AudioPartSchema = Type.Object({
  type: Type.Literal('input_audio'),
  input_audio: Type.Object({ data: Type.String(), format: Type.String() }),
})
const FilePartSchema = Type.Object({
  type: Type.Literal('file'),
  file: Type.Object({ file_data: Type.Optional(Type.String()), file_id: Type.Optional(Type.String()), filename: Type.Optional(Type.String()) }),
})
const RefusalPartSchema = Type.Object({ type: Type.Literal('refusal'), refusal: Type.String() })

export const ChatContentPartSchema = Type.Union([TextPartSchema, ImagePartSchema, AudioPartSchema, FilePartSchema])
export type ChatContentPart = Static<typeof ChatContentPartSchema>

const TextContent = Type.Union([Type.String(), Type.Array(TextPartSchema)])

export const ChatToolCallSchema = Type.Object({
  id: Type.String(),
  type: Type.Literal('function'),
  function: Type.Object({ name: Type.String(), arguments: Type.String() }),
})
export type ChatToolCall = Static<typeof ChatToolCallSchema>

const SystemMessageSchema = Type.Object({
  role: Type.Literal('system'),
  content: TextContent,
  name: Type.Optional(Type.String()),
})
const DeveloperMessageSchema = Type.Object({
  role: Type.Literal('developer'),
  content: TextContent,
  name: Type.Optional(Type.String()),
})
const UserMessageSchema = Type.Object({
  role: Type.Literal('user'),
  content: Type.Union([Type.String(), Type.Array(ChatContentPartSchema)]),
  name: Type.Optional(Type.String()),
})
const AssistantMessageSchema = Type.Object({
  role: Type.Literal('assistant'),
  content: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(Type.Union([TextPartSchema, RefusalPartSchema]))]))),
  refusal: Type.Optional(Nullable(Type.String())),
  name: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Type.Array(ChatToolCallSchema)),
  function_call: Type.Optional(Nullable(Type.Object({ name: Type.String(), arguments: Type.String() }))),
  audio: Type.Optional(Nullable(Type.Object({ id: Type.String() }))),
})
const ToolMessageSchema = Type.Object({
  role: Type.Literal('tool'),
  content: TextContent,
  tool_call_id: Type.String(),
})
/** Deprecated by OpenAI; declared so the mapper can say "use tools" instead of a schema mismatch. */
const FunctionMessageSchema = Type.Object({
  role: Type.Literal('function'),
  content: Nullable(Type.String()),
  name: Type.String(),
})

export const ChatMessageSchema = Type.Union([
  SystemMessageSchema,
  DeveloperMessageSchema,
  UserMessageSchema,
  AssistantMessageSchema,
  ToolMessageSchema,
  FunctionMessageSchema,
])
export type ChatMessageParam = Static<typeof ChatMessageSchema>

export const ChatFunctionToolSchema = Type.Object({
  type: Type.Literal('function'),
  function: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 64 }),
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    strict: Type.Optional(Nullable(Type.Boolean())),
  }),
})
/** openai-node 6 `ChatCompletionCustomTool`; refused by the mapper (no neutral equivalent). */
const ChatCustomToolSchema = Type.Object({
  type: Type.Literal('custom'),
  custom: Type.Object({ name: Type.String(), description: Type.Optional(Type.String()) }),
})
export const ChatToolSchema = Type.Union([ChatFunctionToolSchema, ChatCustomToolSchema])

export const ChatToolChoiceSchema = Type.Union([
  StringEnum(['none', 'auto', 'required'] as const),
  Type.Object({ type: Type.Literal('function'), function: Type.Object({ name: Type.String() }) }),
  Type.Object({ type: Type.Literal('custom'), custom: Type.Object({ name: Type.String() }) }),
  Type.Object({
    type: Type.Literal('allowed_tools'),
    allowed_tools: Type.Object({
      mode: StringEnum(['auto', 'required'] as const),
      tools: Type.Array(Type.Record(Type.String(), Type.Unknown())),
    }),
  }),
])
export type ChatToolChoice = Static<typeof ChatToolChoiceSchema>

export const ResponseFormatSchema = Type.Union([
  Type.Object({ type: Type.Literal('text') }),
  Type.Object({ type: Type.Literal('json_object') }),
  Type.Object({
    type: Type.Literal('json_schema'),
    json_schema: Type.Object({
      name: Type.String(),
      description: Type.Optional(Type.String()),
      schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      strict: Type.Optional(Nullable(Type.Boolean())),
    }),
  }),
])

export const ChatCompletionRequestSchema = Type.Object({
  model: Type.String({ minLength: 1 }),
  messages: Type.Array(ChatMessageSchema, { minItems: 1 }),
  stream: Type.Optional(Nullable(Type.Boolean())),
  stream_options: Type.Optional(Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()), include_obfuscation: Type.Optional(Type.Boolean()) }))),
  tools: Type.Optional(Type.Array(ChatToolSchema)),
  tool_choice: Type.Optional(ChatToolChoiceSchema),
  parallel_tool_calls: Type.Optional(Nullable(Type.Boolean())),
  temperature: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 2 }))),
  top_p: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1 }))),
  max_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }))),
  max_completion_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 2_147_483_647 }))),
  stop: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })]))),
  n: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 128 }))),
  user: Type.Optional(Nullable(Type.String())),
  response_format: Type.Optional(ResponseFormatSchema),
  metadata: Type.Optional(Nullable(MetadataSchema)),
  seed: Type.Optional(Nullable(Type.Integer({ minimum: -9_007_199_254_740_991, maximum: 9_007_199_254_740_991 }))),
  // Refused by the mapper (see above).
  modalities: Type.Optional(Nullable(Type.Array(StringEnum(['text', 'audio'] as const)))),
  audio: Type.Optional(Nullable(Type.Object({ voice: Type.Unknown(), format: Type.String() }))),
  functions: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  function_call: Type.Optional(Type.Union([Type.String(), Type.Object({ name: Type.String() })])),
  // Accepted and ignored (see above).
  frequency_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
  presence_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
  logit_bias: Type.Optional(Nullable(Type.Record(Type.String(), Type.Number()))),
  logprobs: Type.Optional(Nullable(Type.Boolean())),
  top_logprobs: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 20 }))),
  service_tier: Type.Optional(Nullable(Type.String())),
  store: Type.Optional(Nullable(Type.Boolean())),
  prompt_cache_key: Type.Optional(Type.String()),
  prompt_cache_retention: Type.Optional(Nullable(Type.String())),
  safety_identifier: Type.Optional(Type.String()),
  reasoning_effort: Type.Optional(Nullable(Type.String())),
  verbosity: Type.Optional(Nullable(Type.String())),
  prediction: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  web_search_options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})
export type ChatCompletionRequest = Static<typeof ChatCompletionRequestSchema>

export const CompletionUsageSchema = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  prompt_tokens_details: Type.Optional(Type.Object({ cached_tokens: Type.Optional(Type.Integer()) })),
  completion_tokens_details: Type.Optional(Type.Object({ reasoning_tokens: Type.Optional(Type.Integer()) })),
})
export type CompletionUsage = Static<typeof CompletionUsageSchema>

export const FinishReasonSchema = StringEnum(['stop', 'length', 'tool_calls', 'content_filter', 'function_call'] as const)

/** The non-streaming response (`object: 'chat.completion'`). */
export const ChatCompletionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer({ description: 'Unix seconds' }),
  model: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({
        role: Type.Literal('assistant'),
        content: Nullable(Type.String()),
        refusal: Nullable(Type.String()),
        tool_calls: Type.Optional(Type.Array(ChatToolCallSchema)),
      }),
      logprobs: Type.Null(),
      finish_reason: FinishReasonSchema,
    }),
  ),
  usage: Type.Optional(CompletionUsageSchema),
  system_fingerprint: Type.Optional(Nullable(Type.String())),
})
export type ChatCompletion = Static<typeof ChatCompletionSchema>

export const ChatToolCallDeltaSchema = Type.Object({
  index: Type.Integer(),
  id: Type.Optional(Type.String()),
  type: Type.Optional(Type.Literal('function')),
  function: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), arguments: Type.Optional(Type.String()) })),
})
export type ChatToolCallDelta = Static<typeof ChatToolCallDeltaSchema>

/**
 * One streamed `data:` line (`object: 'chat.completion.chunk'`). With `stream_options.include_usage` every
 * chunk carries `usage: null` and one last chunk with `choices: []` carries the usage; `data: [DONE]` follows.
 */
export const ChatCompletionChunkSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion.chunk'),
  created: Type.Integer(),
  model: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      delta: Type.Object({
        role: Type.Optional(Type.Literal('assistant')),
        content: Type.Optional(Nullable(Type.String())),
        refusal: Type.Optional(Nullable(Type.String())),
        tool_calls: Type.Optional(Type.Array(ChatToolCallDeltaSchema)),
      }),
      logprobs: Type.Null(),
      finish_reason: Nullable(FinishReasonSchema),
    }),
  ),
  usage: Type.Optional(Nullable(CompletionUsageSchema)),
  system_fingerprint: Type.Optional(Nullable(Type.String())),
})
export type ChatCompletionChunk = Static<typeof ChatCompletionChunkSchema>

/** The terminator line of a chat completion stream, sent as `data: [DONE]`. */
export const CHAT_STREAM_DONE = '[DONE]'
