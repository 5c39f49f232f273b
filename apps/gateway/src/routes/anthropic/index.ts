import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  type AnthropicMessage as AnthropicMessageBody,
  collectResult,
  countInputTokens,
  countTokensRequestToNeutral,
  createAnthropicEventEncoder,
  fromRunEvent,
  type MessagesRequest as MessagesBody,
  type MessageStreamEvent,
  messagesRequestToNeutral,
  type NeutralCall,
  neutralToAnthropicMessage,
  toAnthropicModel,
  toAnthropicModelList,
  unsupported,
} from '@openvesper/compat'
import type { CreatedRun, CreateRunInput, ProviderEvent, RunEvent } from '@openvesper/core'
import type { RunRow } from '@openvesper/db'
import { hasScopes, type Scope } from '@openvesper/access'
import { AppError, forbidden, newId, unavailable } from '@openvesper/shared'
import { parseSessionKey } from '@openvesper/sessions'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { watchCredential } from '../../http/credential-watch.js'
import { LONG_HANDLER_IDLE_MS, onDisconnect } from '../../http/disconnect.js'
import { registerSurfaceErrors } from '../../http/errors.js'
import { defineFeature, type FeatureOptions } from '../../http/feature.js'
import { openSse, type SseStream } from '../../http/sse.js'
import { TEXT_PATTERN } from '../../schemas/run.js'
import { anthropicErrorRenderer, runCancelled, runFailure } from './errors.js'
import { firstEvent, type ProviderModel, providerFailure, resolveProviderModel, toProviderRequest } from './provider.js'
import {
  AnthropicHeaders,
  AnthropicMessage,
  AnthropicModel,
  AnthropicModelList,
  anthropicComponents,
  CountTokensRequest,
  CountTokensResponse,
  anthropicErrorResponses,
  catalog,
  MESSAGES_STREAM_DESCRIPTION,
  MessagesHeaders,
  MessagesRequest,
  ModelListQuery,
  ModelParams,
  ModelPathParams,
} from './schemas.js'

const TAG = 'Anthropic'
type Needs = 'runs' | 'tokens' | 'agents' | 'models' | 'providers'

/** The longest message a run takes (CreateRunBody's `message`), and the text Postgres can store. */
const MAX_MESSAGE = 200_000
const STORABLE = new RegExp(TEXT_PATTERN, 'u')

const modelNotFound = (model: string) =>
  new AppError('not_found', `model: ${model.slice(0, 128)} is neither an agent (GET /anthropic/v1/models) nor a provider model (provider/model)`)

/**
 * The run a Messages body asks for: the agent named by `model`, the conversation's last user turn as the run's
 * message, the session of `X-Session-Key`. What an agent run cannot honour is refused, naming the field.
 */
function toRunInput(body: MessagesBody, call: NeutralCall, sessionKey: string | undefined): CreateRunInput {
  if (call.request.tools?.length)
    throw unsupported('tools', 'client tools are not supported with agent models; the agent uses its own tools (use a provider model for client tools)')
  const last = call.request.messages.at(-1)
  const index = body.messages.length - 1
  if (body.messages[index]?.role !== 'user' || last?.role !== 'user')
    throw unsupported(`messages.${index}`, 'the last message must be a user turn with text: it is the message the agent runs on')
  const message = last.content
  const at = `messages.${index}.content`
  if (message.length === 0) throw unsupported(at, 'the last user message is empty')
  if (message.length > MAX_MESSAGE) throw unsupported(at, `the last user message is longer than ${MAX_MESSAGE} characters`)
  if (!STORABLE.test(message)) throw unsupported(at, 'the last user message contains NUL or an unpaired surrogate, which cannot be stored')
  const input: CreateRunInput = { message, agent: body.model }
  if (sessionKey !== undefined) input.sessionKey = sessionKey
  return input
}

const messageMeta = (run: RunRow, model: string) => ({ id: `msg_${run.id}`, model })

/** A finished run as the non-streaming `message`; a run that did not complete is the error it ended with. */
function toMessage(row: RunRow, model: string): AnthropicMessageBody {
  if (row.status === 'failed') throw runFailure(row.failureReason, row.errorMessage)
  if (row.status === 'cancelled') throw runCancelled(row.id)
  if (row.status !== 'completed') throw unavailable(`run ${row.id} has not finished; follow it with GET /agent/run/${row.id}`)
  const usage = row.usage ?? { inputTokens: 0, outputTokens: 0 }
  return neutralToAnthropicMessage({ text: row.output ?? '', toolCalls: [], stopReason: 'end_turn', usage }, messageMeta(row, model))
}

/** One Messages stream event as Anthropic frames it: `event: <type>` and the JSON. */
const frame = (event: MessageStreamEvent) => ({ event: event.type, data: event })

const versionNote =
  '`x-api-key: <token>` is accepted as well as `Authorization: Bearer <token>` (the same gateway tokens and scopes; one of the two per request); `anthropic-version` and `anthropic-beta` are accepted with any value and not required.'

/**
 * The Anthropic-compatible surface under `/anthropic/v1`. Agent models run through the runs service exactly as
 * `POST /agent` (sync) and `POST /agent/stream` do; errors, including the auth hook's and the rate limiter's, are
 * Anthropic's `{ type: 'error', error: { type, message } }` (registerSurfaceErrors, scoped to this prefix).
 */
const anthropicV1Routes: FastifyPluginAsyncTypebox<FeatureOptions<Needs>> = async (app, { services, config }) => {
  const { runs, agents, models, tokens, providers } = services
  registerSurfaceErrors(app, anthropicErrorRenderer)
  // Anthropic's responses carry the request id in `request-id` (the SDK's `_request_id`).
  app.addHook('onSend', async (request, reply) => {
    reply.header('request-id', String(request.id))
  })
  const openStreams = new Set<SseStream>()
  app.addHook('preClose', async () => {
    for (const stream of openStreams) stream.close()
  })

  const list = () => catalog(agents, models.defaultModel)
  const findModel = (id: string) => {
    const model = list().find((m) => m.id === id)
    if (!model) throw modelNotFound(id)
    return toAnthropicModel(model)
  }

  app.get(
    '/models',
    {
      schema: {
        operationId: 'listAnthropicModels',
        summary: 'List models (Anthropic-compatible)',
        description: `Anthropic's model list (\`data\`, \`has_more\`, \`first_id\`, \`last_id\`; paged with \`limit\` (1-1000, default 20), \`after_id\`, \`before_id\`): every configured agent (display name \`<id> (agent)\`), then the gateway's default model. ${versionNote}`,
        tags: [TAG],
        headers: AnthropicHeaders,
        querystring: ModelListQuery,
        response: { 200: ref(AnthropicModelList), ...anthropicErrorResponses },
      },
      config: { auth: { scopes: ['runs:read'], apiKeyHeader: true } },
    },
    async (request) => toAnthropicModelList(list(), request.query),
  )

  app.get(
    '/models/:model_id',
    {
      schema: {
        operationId: 'getAnthropicModel',
        summary: 'Get a model (Anthropic-compatible)',
        description:
          'One entry of GET /anthropic/v1/models; 404 `not_found_error` otherwise. A `provider/model` id is one path segment with its slash percent-encoded (as the SDK sends it); the slash unencoded is answered too.',
        tags: [TAG],
        headers: AnthropicHeaders,
        params: ModelParams,
        response: { 200: ref(AnthropicModel), ...anthropicErrorResponses },
      },
      config: { auth: { scopes: ['runs:read'], apiKeyHeader: true } },
    },
    async (request) => findModel(request.params.model_id),
  )

  app.get(
    '/models/*',
    {
      schema: { hide: true, params: ModelPathParams, response: { 200: ref(AnthropicModel), ...anthropicErrorResponses } },
      config: { auth: { scopes: ['runs:read'], apiKeyHeader: true } },
    },
    async (request) => findModel(request.params['*']),
  )

  /** `stream: true` on an agent: the run's text deltas as the Messages event sequence. */
  const streamRun = async (created: CreatedRun, model: string, request: FastifyRequest, reply: FastifyReply) => {
    const { run } = created
    const encoder = createAnthropicEventEncoder(messageMeta(run, model))
    const stream = openSse(request, reply, {
      limits: config.limits.streams,
      headers: { 'x-run-id': run.id, 'request-id': String(request.id) },
      retryMs: null,
      logFields: { runId: run.id },
    })
    openStreams.add(stream)
    const unwatch = watchCredential(tokens, request.principal.tokenId, () => stream.close())
    let ended = false
    const onEvent = async (event: RunEvent) => {
      const mapped = ended ? undefined : fromRunEvent(event)
      if (!mapped) return
      if (mapped.type === 'failed' || mapped.type === 'cancelled') {
        ended = true
        const error = mapped.type === 'failed' ? runFailure(mapped.reason, mapped.message) : runCancelled(run.id)
        await stream.send({ event: 'error', data: anthropicErrorRenderer.body(error, request) as object })
        return
      }
      for (const event of encoder.push(mapped)) await stream.send(frame(event))
      if (mapped.type === 'done') ended = true
    }
    try {
      for (const event of encoder.start()) await stream.send(frame(event))
      if (created.created && created.attempt) await runs.followNew(created, onEvent, stream.signal)
      // A retry with the same Idempotency-Key: the run's events from the start.
      else await runs.follow(run, 0, onEvent, stream.signal)
    } finally {
      unwatch()
      openStreams.delete(stream)
      stream.end()
    }
  }

  const runAgent = async (body: MessagesBody, call: NeutralCall, request: FastifyRequest, reply: FastifyReply) => {
    const { principal } = request
    const input = toRunInput(body, call, request.headers['x-session-key'] as string | undefined)
    const idempotency = request.headers['idempotency-key']
    const options = { ...(typeof idempotency === 'string' ? { idempotencyKey: idempotency } : {}), requestId: String(request.id) }
    if (call.stream) {
      const created = await runs.create(principal, input, { ...options, mode: 'stream' })
      await streamRun(created, body.model, request, reply)
      return reply
    }
    const disconnected = onDisconnect(reply)
    const created = await runs.create(principal, input, { ...options, mode: 'sync' })
    reply.header('x-run-id', created.run.id)
    let ended: RunRow | undefined
    if (created.created) ended = (await runs.executeInline(created, disconnected)).run
    else await runs.wait(principal, created.run.id, 3_600_000, disconnected)
    return toMessage(ended ?? (await runs.getOwned(principal, created.run.id)), body.model)
  }

  /** Provider models need `models:use`, agents `runs:write` (a coding tool's token cannot drive agents). */
  const requireScope = (request: FastifyRequest, scope: Scope, what: string) => {
    if (!hasScopes(request.principal.scopes, [scope])) throw forbidden(`${what} needs the scope ${scope}`)
  }

  /** A provider model: the neutral request through core's provider (translated for OpenAI), answered in Anthropic's format. */
  const callProvider = async (body: MessagesBody, call: NeutralCall, target: ProviderModel, request: FastifyRequest, reply: FastifyReply) => {
    const disconnected = onDisconnect(reply)
    const events = target.provider.stream(toProviderRequest(call.request, target, disconnected))
    // Pass-through calls are not runs: a fresh id in Anthropic's `msg_` form.
    const meta = { id: `msg_${newId('run').slice('run_'.length)}`, model: body.model }
    const { first, rest } = await firstEvent(events)
    if (!call.stream) {
      const all: ProviderEvent[] = first ? [first] : []
      try {
        for (let step = await rest.next(); !step.done; step = await rest.next()) all.push(step.value)
      } catch (err) {
        throw providerFailure(err)
      }
      return neutralToAnthropicMessage(collectResult(all), meta)
    }
    const encoder = createAnthropicEventEncoder(meta)
    const stream = openSse(request, reply, { limits: config.limits.streams, headers: { 'request-id': String(request.id) }, retryMs: null })
    openStreams.add(stream)
    try {
      for (const event of encoder.start()) await stream.send(frame(event))
      if (first) for (const event of encoder.push(first)) await stream.send(frame(event))
      for (let step = await rest.next(); !step.done; step = await rest.next()) {
        for (const event of encoder.push(step.value)) await stream.send(frame(event))
      }
    } catch (err) {
      if (!stream.signal.aborted && !disconnected.aborted) {
        const failure = providerFailure(err)
        const error = failure instanceof AppError ? failure : runFailure('internal', null)
        if (!(failure instanceof AppError)) request.log.error({ err }, 'provider stream failed')
        await stream.send({ event: 'error', data: anthropicErrorRenderer.body(error, request) as object })
      }
    } finally {
      openStreams.delete(stream)
      stream.end()
    }
    return reply
  }

  app.post(
    '/messages',
    {
      schema: {
        operationId: 'createAnthropicMessage',
        summary: 'Create a message (Anthropic-compatible)',
        description: [
          '`model` names an agent or a provider model. A provider model (`anthropic/<model>`, `openai/<model>`, or `echo`; needs the scope models:use) goes to that provider through the gateway’s pooled client: an Anthropic model as the Messages API, an OpenAI model translated to chat completions and back (messages, system, tools and tool_use/tool_result, tool_choice, stop_sequences, temperature, top_p, metadata.user_id; stop reasons and usage), streamed as the upstream produces it; it is not a run, and a client that disconnects aborts the upstream request.',
          'An agent (an id from GET /anthropic/v1/models; needs runs:write) runs as an ordinary run, exactly as with POST /agent (or POST /agent/stream with `stream: true`), with its own system prompt, tools and model; the run id is in the X-Run-Id header and in the message id (`msg_<runId>`), so GET /agent/run/{runId} shows it.',
          'The last message, a user turn with text, is the run’s message; earlier turns are not replayed (an agent’s history is its session’s: `X-Session-Key`). For agent models, `system`, `max_tokens`, `stop_sequences`, sampling options and `metadata` are accepted and not applied (the agent’s own configuration decides), and client `tools` are refused (400 naming the field): the agent’s tools run in the gateway.',
          `Errors under /anthropic/v1 are Anthropic’s \`{ type: 'error', error: { type, message }, request_id }\` with Anthropic’s statuses and error types. ${versionNote}`,
          MESSAGES_STREAM_DESCRIPTION,
        ].join(' '),
        tags: [TAG],
        headers: MessagesHeaders,
        body: ref(MessagesRequest),
        response: {
          200: {
            description: 'The `message` object, or with `stream: true` its events as server-sent events.',
            content: {
              'application/json': { schema: ref(AnthropicMessage) },
              'text/event-stream': { schema: Type.String({ description: MESSAGES_STREAM_DESCRIPTION }) },
            },
          },
          ...anthropicErrorResponses,
        },
      },
      // Any valid token passes the hook; the model decides the scope (agents runs:write, provider models models:use).
      config: { auth: { scopes: [], apiKeyHeader: true }, socketIdleTimeoutMs: LONG_HANDLER_IDLE_MS },
      // The session key rule before validation, so its message wins over the schema's.
      preValidation: async (request) => {
        const key = request.headers['x-session-key']
        if (typeof key === 'string') request.headers['x-session-key'] = parseSessionKey(key, 'X-Session-Key')
      },
    },
    async (request, reply) => {
      const { body } = request
      const call = messagesRequestToNeutral(body)
      if (agents.has(body.model)) {
        requireScope(request, 'runs:write', 'running an agent')
        return runAgent(body, call, request, reply)
      }
      const target = resolveProviderModel(providers, body.model)
      if (!target) throw modelNotFound(body.model)
      requireScope(request, 'models:use', 'calling a provider model')
      return callProvider(body, call, target, request, reply)
    },
  )

  app.post(
    '/messages/count_tokens',
    {
      schema: {
        operationId: 'countAnthropicMessageTokens',
        summary: 'Count the input tokens of a message (Anthropic-compatible)',
        description: `The \`input_tokens\` a Messages body (without \`max_tokens\`) would cost: system, messages (text, tool_use, tool_result) and tool definitions, counted in the gateway with the o200k_base BPE (gpt-tokenizer) plus a fixed per-message overhead, so nothing is sent upstream. Exact for the text of current OpenAI models; an estimate for Claude models, whose tokenizer is not published. For an agent, the conversation as sent (the agent's own system prompt and history are not added). \`model\` must be an agent (needs runs:read) or a provider model (needs models:use); 404 otherwise. ${versionNote}`,
        tags: [TAG],
        headers: AnthropicHeaders,
        body: ref(CountTokensRequest),
        response: { 200: ref(CountTokensResponse), ...anthropicErrorResponses },
      },
      config: { auth: { scopes: [], apiKeyHeader: true } },
    },
    async (request) => {
      const { body } = request
      const neutral = countTokensRequestToNeutral(body)
      if (agents.has(body.model)) requireScope(request, 'runs:read', 'counting tokens for an agent')
      else if (resolveProviderModel(providers, body.model)) requireScope(request, 'models:use', 'counting tokens for a provider model')
      else throw modelNotFound(body.model)
      return { input_tokens: countInputTokens(neutral) }
    },
  )
}

/** The `/anthropic/v1` prefix is this plugin's own scope: its error and not-found handlers answer for every path under it. */
const anthropicRoutes: FastifyPluginAsyncTypebox<FeatureOptions<Needs>> = async (app, options) => {
  await app.register(anthropicV1Routes, { ...options, prefix: '/anthropic/v1' })
}

/** The Anthropic-compatible surface: `POST /anthropic/v1/messages`, `POST /anthropic/v1/messages/count_tokens`, `GET /anthropic/v1/models`, `GET /anthropic/v1/models/{model_id}`. */
export const anthropicFeature = defineFeature({
  tag: {
    name: TAG,
    description:
      'Anthropic-compatible API under /anthropic/v1, for the official SDK and any Anthropic client with a base URL setting (`baseURL: http://127.0.0.1:18789/anthropic`, the gateway token as API key or auth token). Agents are the models.',
  },
  components: anthropicComponents,
  needs: ['runs', 'tokens', 'agents', 'models', 'providers'],
  plugin: anthropicRoutes,
})
