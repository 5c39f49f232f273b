import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  type ChatCall,
  type ChatCompletionRequest as ChatCompletionBody,
  chatRequestToNeutral,
  createChatChunkEncoder,
  fromRunEvent,
  neutralToChatCompletion,
  toOpenAIModel,
  toOpenAIModelList,
  unsupported,
} from '@openvesper/compat'
import type { AgentRegistry, CreatedRun, CreateRunInput, RunEvent } from '@openvesper/core'
import type { RunRow } from '@openvesper/db'
import { hasScopes, type Principal, type Scope } from '@openvesper/access'
import { AppError, forbidden, unavailable } from '@openvesper/shared'
import { parseSessionKey } from '@openvesper/sessions'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { watchCredential } from '../../http/credential-watch.js'
import { LONG_HANDLER_IDLE_MS, onDisconnect } from '../../http/disconnect.js'
import { registerSurfaceErrors } from '../../http/errors.js'
import { defineFeature, type FeatureOptions } from '../../http/feature.js'
import { openSse, type SseStream } from '../../http/sse.js'
import { passChat } from '../../passthrough/chat.js'
import { passEmbeddings } from '../../passthrough/embeddings.js'
import { passResponses } from '../../passthrough/responses.js'
import { TEXT_PATTERN } from '../../schemas/run.js'
import { openaiErrorRenderer, runFailure } from './errors.js'
import {
  CHAT_STREAM_DESCRIPTION,
  ChatCompletion,
  ChatCompletionRequest,
  ChatHeaders,
  catalog,
  EmbeddingsRequest,
  EmbeddingsResponse,
  ResponseObject,
  ResponsesRequest,
  ModelParams,
  ModelPathParams,
  OpenAIModel,
  OpenAIModelList,
  openaiComponents,
  openaiErrorResponses,
} from './schemas.js'

const TAG = 'OpenAI'
type Needs = 'runs' | 'tokens' | 'agents' | 'models' | 'passthrough'

/** The longest message a run takes (CreateRunBody's `message`), and the text Postgres can store. */
const MAX_MESSAGE = 200_000
const STORABLE = new RegExp(TEXT_PATTERN, 'u')

const modelNotFound = (model: string) =>
  new AppError(
    'not_found',
    `The model '${model.slice(0, 128)}' does not exist: name an agent (kind 'agent' in GET /v1/models), a configured alias, or provider/model of a configured provider (openai/…, anthropic/…).`,
    { details: { reason: 'model_not_found' } },
  )

/** The route's own scope check where the scope depends on the request: any one of `scopes` (admin: all). */
function requireAny(principal: Principal, scopes: Scope[], what: string): void {
  if (!scopes.some((scope) => hasScopes(principal.scopes, [scope]))) throw forbidden(`${what} needs the scope ${scopes.join(' or ')}`)
}

/**
 * The run a chat completions body asks for: the agent named by `model`, the last user message as the run's
 * message, the session of `X-Session-Key`. What an agent run cannot honour yet is refused, naming the field.
 */
function toRunInput(body: ChatCompletionBody, call: ChatCall, agents: AgentRegistry, sessionKey: string | undefined) {
  if (!agents.has(body.model)) throw modelNotFound(body.model)
  if (call.request.tools?.length) throw unsupported('tools', 'client tools are not supported with agent models yet; the agent uses its own tools')
  if (call.request.responseFormat && call.request.responseFormat.type !== 'text')
    throw unsupported('response_format', 'response_format is not supported with agent models yet')
  const index = call.request.messages.findLastIndex((m) => m.role === 'user')
  if (index < 0) throw unsupported('messages', 'no user message: the last user message is the message the agent runs on')
  const message = call.request.messages[index]!.content
  const at = `messages[${index}].content`
  if (message.length === 0) throw unsupported(at, 'the last user message is empty')
  if (message.length > MAX_MESSAGE) throw unsupported(at, `the last user message is longer than ${MAX_MESSAGE} characters`)
  if (!STORABLE.test(message)) throw unsupported(at, 'the last user message contains NUL or an unpaired surrogate, which cannot be stored')
  const input: CreateRunInput = { message, agent: body.model }
  if (sessionKey !== undefined) input.sessionKey = sessionKey
  return input
}

const completionMeta = (run: RunRow, model: string) => ({ id: `chatcmpl-${run.id}`, model, created: Math.floor(run.createdAt.getTime() / 1000) })

/** A finished run as the non-streaming `chat.completion`; a run that did not complete is the error it ended with. */
function toCompletion(row: RunRow, model: string) {
  if (row.status === 'failed') throw runFailure(row.failureReason, row.errorMessage)
  if (row.status === 'cancelled') throw new AppError('conflict', `run ${row.id} was cancelled`, { details: { reason: 'run_cancelled' } })
  if (row.status !== 'completed') throw unavailable(`run ${row.id} has not finished; follow it with GET /agent/run/${row.id}`)
  const usage = row.usage ?? { inputTokens: 0, outputTokens: 0 }
  const completion = neutralToChatCompletion({ text: row.output ?? '', toolCalls: [], stopReason: 'end_turn', usage }, completionMeta(row, model))
  if (!row.usage) delete completion.usage
  return completion
}

/**
 * The OpenAI-compatible surface under `/v1`. Agent models run through the runs service exactly as `POST /agent`
 * (sync) and `POST /agent/stream` do; errors, including the auth hook's and the rate limiter's, are OpenAI's
 * `{ error: { message, type, param, code } }` (registerSurfaceErrors, scoped to this prefix).
 */
const v1Routes: FastifyPluginAsyncTypebox<FeatureOptions<Needs>> = async (app, { services, config }) => {
  const { runs, agents, models, tokens, passthrough } = services
  registerSurfaceErrors(app, openaiErrorRenderer)
  const openStreams = new Set<SseStream>()
  app.addHook('preClose', async () => {
    for (const stream of openStreams) stream.close()
  })

  const findModel = (id: string) => {
    const model = catalog(agents, models.defaultModel, passthrough).find((m) => m.id === id)
    if (!model) throw modelNotFound(id)
    return toOpenAIModel(model)
  }

  app.get(
    '/models',
    {
      schema: {
        operationId: 'listOpenAIModels',
        summary: 'List models (OpenAI-compatible)',
        description:
          "OpenAI's model list: every configured agent (`kind: 'agent'`, `owned_by: 'openvesper'`), which `POST /v1/chat/completions` runs, then the gateway's default model and the configured aliases (`kind: 'model'`, `owned_by` their provider), which it passes through. Any valid token may list them.",
        tags: [TAG],
        response: { 200: ref(OpenAIModelList), ...openaiErrorResponses },
      },
      config: { auth: { scopes: [] } },
    },
    async () => {
      return toOpenAIModelList(catalog(agents, models.defaultModel, passthrough))
    },
  )

  app.get(
    '/models/:model_id',
    {
      schema: {
        operationId: 'getOpenAIModel',
        summary: 'Get a model (OpenAI-compatible)',
        description:
          'One entry of GET /v1/models; 404 `model_not_found` otherwise. A `provider/model` id is one path segment with its slash percent-encoded (`openai%2Fgpt-4o-mini`, as openai-node sends it); `/v1/models/openai/gpt-4o-mini` with the slash as is is answered too.',
        tags: [TAG],
        params: ModelParams,
        response: { 200: ref(OpenAIModel), ...openaiErrorResponses },
      },
      config: { auth: { scopes: [] } },
    },
    async (request) => {
      return findModel(request.params.model_id)
    },
  )

  // The same, for a model id whose slash arrives unencoded (curl, hand-written clients); not documented twice.
  app.get(
    '/models/*',
    {
      schema: { hide: true, params: ModelPathParams, response: { 200: ref(OpenAIModel), ...openaiErrorResponses } },
      config: { auth: { scopes: [] } },
    },
    async (request) => {
      return findModel(request.params['*'])
    },
  )

  /** `stream: true`: the run's text deltas as `chat.completion.chunk`s, as POST /agent/stream follows a run. */
  const streamCompletion = async (created: CreatedRun, call: ChatCall, model: string, request: FastifyRequest, reply: FastifyReply) => {
    const { run } = created
    const encoder = createChatChunkEncoder({ ...completionMeta(run, model), includeUsage: call.includeUsage })
    const stream = openSse(request, reply, { limits: config.limits.streams, headers: { 'x-run-id': run.id }, retryMs: null, logFields: { runId: run.id } })
    openStreams.add(stream)
    const unwatch = watchCredential(tokens, request.principal.tokenId, () => stream.close())
    let ended = false
    const onEvent = async (event: RunEvent) => {
      const mapped = ended ? undefined : fromRunEvent(event)
      if (!mapped) return
      if (mapped.type === 'failed' || mapped.type === 'cancelled') {
        ended = true
        const error =
          mapped.type === 'failed'
            ? runFailure(mapped.reason, mapped.message)
            : new AppError('conflict', `run ${run.id} was cancelled`, { details: { reason: 'run_cancelled' } })
        await stream.send({ data: openaiErrorRenderer.body(error, request) as object })
        return
      }
      for (const chunk of encoder.push(mapped)) await stream.send({ data: chunk })
      if (mapped.type === 'done') {
        ended = true
        await stream.send({ data: '[DONE]' })
      }
    }
    try {
      for (const chunk of encoder.start()) await stream.send({ data: chunk })
      if (created.created && created.attempt) await runs.followNew(created, onEvent, stream.signal)
      // A retry with the same Idempotency-Key: the run's events from the start.
      else await runs.follow(run, 0, onEvent, stream.signal)
    } finally {
      unwatch()
      openStreams.delete(stream)
      stream.end()
    }
  }

  app.post(
    '/chat/completions',
    {
      schema: {
        operationId: 'createOpenAIChatCompletion',
        summary: 'Create a chat completion (OpenAI-compatible)',
        description: [
          '`model` names an agent (an id from GET /v1/models with `kind: agent`): the agent runs as an ordinary run, exactly as with POST /agent (or POST /agent/stream with `stream: true`), with its own system prompt, tools and model; the run id is in the X-Run-Id header and in the completion id (`chatcmpl-<runId>`), so GET /agent/run/{runId} shows it.',
          'The last user message is the run’s message; earlier messages are not replayed (an agent’s history is its session’s). `X-Session-Key` runs it in that session (as `sessionKey` on POST /agent); the `user` field is not a session. Client `tools` and a `response_format` other than text are refused (400 naming the field) for agent models; sampling options are ignored.',
          'Running an agent needs the scope runs:write. Disconnecting stops a non-streamed run; a streamed one goes on (follow it with GET /agent/run/{runId}/events).',
          '`model` = `provider/model` of a configured provider (`openai/gpt-4o-mini`, `anthropic/claude-sonnet-4-5`) or a configured alias (OPENVESPER_MODEL_ALIASES) is a pass-through, with the scope models:use: an OpenAI provider gets the body as sent (with its own model name and key; the answer and the chunks come back as the provider sent them, as they arrive), an Anthropic one gets it translated (messages, tools, tool results, stop reasons, usage, stream events). Usage is recorded asynchronously; a client that disconnects aborts the upstream request. Upstream failures are OpenAI errors (429 with the upstream Retry-After, 503 unavailable, 502 otherwise). Any other model is a 404 `model_not_found`.',
          'Errors on /v1 are OpenAI’s `{ error: { message, type, param, code } }`.',
          CHAT_STREAM_DESCRIPTION,
        ].join(' '),
        tags: [TAG],
        headers: ChatHeaders,
        body: ref(ChatCompletionRequest),
        response: {
          200: {
            description: 'The `chat.completion` object, or with `stream: true` its chunks as server-sent events.',
            content: {
              'application/json': { schema: ref(ChatCompletion) },
              'text/event-stream': { schema: Type.String({ description: CHAT_STREAM_DESCRIPTION }) },
            },
          },
          ...openaiErrorResponses,
        },
      },
      config: { auth: { scopes: [] }, socketIdleTimeoutMs: LONG_HANDLER_IDLE_MS },
      // The session key rule before validation, so its message (and `param`) wins over the schema's.
      preValidation: async (request) => {
        const key = request.headers['x-session-key']
        if (typeof key === 'string') request.headers['x-session-key'] = parseSessionKey(key, 'X-Session-Key')
      },
    },
    async (request, reply) => {
      const { body, principal } = request
      const call = chatRequestToNeutral(body)
      if (!agents.has(body.model)) {
        const target = passthrough.resolve(body.model)
        if (!target) throw modelNotFound(body.model)
        requireAny(principal, ['models:use'], 'a provider model (pass-through)')
        return passChat(passthrough, { request, reply, principal, target, requested: body.model, limits: config.limits.streams, openStreams }, body, call)
      }
      requireAny(principal, ['runs:write'], 'running an agent')
      const input = toRunInput(body, call, agents, request.headers['x-session-key'])
      const options = { idempotencyKey: request.headers['idempotency-key'], requestId: String(request.id) }
      if (call.stream) {
        const created = await runs.create(principal, input, { ...options, mode: 'stream' })
        await streamCompletion(created, call, body.model, request, reply)
        return reply
      }
      const disconnected = onDisconnect(reply)
      const created = await runs.create(principal, input, { ...options, mode: 'sync' })
      reply.header('x-run-id', created.run.id)
      return toCompletion(await runs.settle(principal, created, disconnected), body.model)
    },
  )
  app.post(
    '/embeddings',
    {
      schema: {
        operationId: 'createOpenAIEmbeddings',
        summary: 'Create embeddings (OpenAI-compatible)',
        description:
          '`model` = `openai/<embedding model>` or a configured alias of one: a pass-through to the OpenAI-compatible provider (scope models:use), the body forwarded as sent (`input` a string or an array of strings, `dimensions`, `encoding_format: base64`) and the answer returned as the provider sent it. Token-array input and providers without an embeddings API (Anthropic) are a 400 naming the field; an unknown model a 404 `model_not_found`. Usage is recorded asynchronously.',
        tags: [TAG],
        body: ref(EmbeddingsRequest),
        response: { 200: ref(EmbeddingsResponse), ...openaiErrorResponses },
      },
      config: { auth: { scopes: [] } },
    },
    async (request, reply) => {
      const { body, principal } = request
      const target = passthrough.resolve(body.model)
      if (!target) throw modelNotFound(body.model)
      requireAny(principal, ['models:use'], 'a provider model (pass-through)')
      return passEmbeddings(passthrough, { request, reply, principal, target }, body)
    },
  )
  const RESPONSES_STREAM =
    'With `stream: true`: server-sent events named by their type, each `data:` one Responses stream event with its `sequence_number` (from 0): `response.created`, `response.in_progress`, per output item `response.output_item.added`, for a message `response.content_part.added`, `response.output_text.delta`s, `response.output_text.done`, `response.content_part.done`, for a function call `response.function_call_arguments.delta`/`.done`, then `response.output_item.done`, and last `response.completed` (or `response.incomplete` when cut off by max_output_tokens, `response.failed` with the error when the provider failed mid-stream).'

  app.post(
    '/responses',
    {
      schema: {
        operationId: 'createOpenAIResponse',
        summary: 'Create a response (OpenAI Responses API)',
        description: [
          '`model` = `provider/model` of a configured provider or a configured alias (scope models:use): the request (`input` a string or items — messages, `function_call` and `function_call_output` items —, `instructions`, function `tools`, `tool_choice`, `max_output_tokens`, sampling) goes to that provider through its wire (OpenAI chat completions, or Anthropic Messages, translated), and the answer is a `response` object, its function calls as `function_call` output items for the client to run.',
          'Responses are not stored yet: the object says `store: false`, and `previous_response_id` and `background: true` are a 400 naming the field (send the conversation in `input`). Agent models are not served here yet (400 naming `model`). Disconnecting aborts the upstream call.',
          RESPONSES_STREAM,
        ].join(' '),
        tags: [TAG],
        body: ref(ResponsesRequest),
        response: {
          200: {
            description: 'The `response` object, or with `stream: true` its events as server-sent events.',
            content: {
              'application/json': { schema: ref(ResponseObject) },
              'text/event-stream': { schema: Type.String({ description: RESPONSES_STREAM }) },
            },
          },
          ...openaiErrorResponses,
        },
      },
      config: { auth: { scopes: [] }, socketIdleTimeoutMs: LONG_HANDLER_IDLE_MS },
    },
    async (request, reply) => {
      const { body, principal } = request
      if (agents.has(body.model))
        throw unsupported('model', `'${body.model.slice(0, 64)}' is an agent: agents are not served on /v1/responses yet; use /v1/chat/completions`)
      const target = passthrough.resolve(body.model)
      if (!target) throw modelNotFound(body.model)
      requireAny(principal, ['models:use'], 'a provider model (pass-through)')
      return passResponses(passthrough, { request, reply, principal, target, requested: body.model, limits: config.limits.streams, openStreams }, body)
    },
  )
}

/** The `/v1` prefix is this plugin's own scope: its error and not-found handlers answer for every `/v1/*` path. */
const openaiRoutes: FastifyPluginAsyncTypebox<FeatureOptions<Needs>> = async (app, options) => {
  await app.register(v1Routes, { ...options, prefix: '/v1' })
}

/** The OpenAI-compatible surface: `GET /v1/models`, `GET /v1/models/{model_id}`, `POST /v1/chat/completions`. */
export const openaiFeature = defineFeature({
  tag: {
    name: TAG,
    description:
      'OpenAI-compatible API under /v1, for the official SDKs and any client with a base URL setting (`baseURL: http://127.0.0.1:18789/v1`, the gateway token as API key). Agents are the models.',
  },
  components: openaiComponents,
  needs: ['runs', 'tokens', 'agents', 'models', 'passthrough'],
  plugin: openaiRoutes,
})
