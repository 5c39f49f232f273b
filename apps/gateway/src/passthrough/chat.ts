import { randomUUID } from 'node:crypto'
import type { Principal } from '@openvesper/access'
import {
  type ChatCall,
  type ChatCompletion,
  type ChatCompletionRequest,
  collectResult,
  createChatChunkEncoder,
  neutralToChatCompletion,
  toOpenAIError,
} from '@openvesper/compat'
import type { ModelRef, ProviderEvent, Usage } from '@openvesper/core'
import { ProviderError } from '@openvesper/core'
import type { UsageRoute } from '@openvesper/db'
import type { StreamLimits } from '../http/stream-guard.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { statusOf } from '../http/errors.js'
import { openSse, type SseStream } from '../http/sse.js'
import { type Passthrough, upstreamFailure } from './index.js'
import { bodyError } from './pool.js'

/**
 * `POST /v1/chat/completions` for a provider model. The OpenAI wire is forwarded as is (the body with `model`
 * replaced, `stream_options.include_usage` turned on for the accounting), chunks written as they arrive; any
 * other provider (Anthropic) goes through core's provider (the wire translated both ways by compat's mappers).
 * Nothing is written to the database on the way: usage goes to the batched recorder. A client that goes away
 * aborts the upstream request.
 */

export interface PassCall {
  request: FastifyRequest
  reply: FastifyReply
  principal: Principal
  target: ModelRef
  /** The `model` the client sent (reported back on translated answers). */
  requested: string
  limits: StreamLimits
  /** Streams the plugin closes on shutdown. */
  openStreams: Set<SseStream>
}

/** Aborted when the client goes away before the answer was complete. */
function clientGone(reply: FastifyReply): AbortController {
  const ctrl = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ctrl.abort()
  })
  return ctrl
}

export function recordUsage(
  pt: Passthrough,
  call: Pick<PassCall, 'principal' | 'target' | 'request'>,
  route: UsageRoute,
  started: number,
  status: number,
  usage: Usage | undefined,
): void {
  const durationMs = Math.round(performance.now() - started)
  pt.usage.record({
    principalId: call.principal.id,
    tokenId: call.principal.tokenId,
    route,
    provider: call.target.provider,
    model: call.target.model,
    status,
    inputTokens: usage?.inputTokens ?? null,
    outputTokens: usage?.outputTokens ?? null,
    durationMs,
    requestId: String(call.request.id),
  })
  call.request.log.info({ provider: call.target.provider, model: call.target.model, status, durationMs, usage }, 'pass-through call')
}

function wireUsage(u: { prompt_tokens?: unknown; completion_tokens?: unknown } | null | undefined): Usage | undefined {
  if (!u || typeof u.prompt_tokens !== 'number') return undefined
  return { inputTokens: u.prompt_tokens, outputTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 }
}

export async function passChat(pt: Passthrough, call: PassCall, body: ChatCompletionRequest, neutral: ChatCall): Promise<ChatCompletion | FastifyReply> {
  if (call.target.provider === 'openai' && pt.openai) return forwardOpenAI(pt, call, body, neutral)
  return translated(pt, call, neutral)
}

async function forwardOpenAI(pt: Passthrough, call: PassCall, body: ChatCompletionRequest, neutral: ChatCall): Promise<FastifyReply> {
  const { reply, request } = call
  const target = pt.openai!
  const started = performance.now()
  const gone = clientGone(reply)
  const upstreamBody = neutral.stream
    ? { ...body, model: call.target.model, stream_options: { ...(body.stream_options ?? {}), include_usage: true } }
    : { ...body, model: call.target.model }
  let response: Awaited<ReturnType<typeof pt.pool.post>>
  try {
    response = await pt.pool.post(target, '/chat/completions', JSON.stringify(upstreamBody), gone.signal)
  } catch (err) {
    if (err instanceof ProviderError) {
      const failure = upstreamFailure(err)
      recordUsage(pt, call, 'chat.completions', started, statusOf(failure.code), undefined)
      throw failure
    }
    throw err
  }

  if (!neutral.stream) {
    let text: string
    try {
      text = await response.body.text()
    } catch (err) {
      if (gone.signal.aborted) return reply
      throw upstreamFailure(bodyError(target.label, err))
    }
    let usage: Usage | undefined
    try {
      usage = wireUsage((JSON.parse(text) as { usage?: Parameters<typeof wireUsage>[0] }).usage)
    } catch {
      throw upstreamFailure(new ProviderError('upstream_bad_response', `${target.label} upstream sent a body that is not JSON`, { retryable: false }))
    }
    recordUsage(pt, call, 'chat.completions', started, 200, usage)
    return reply.code(200).type('application/json; charset=utf-8').send(text)
  }

  // Streamed: every complete SSE event is written as it arrives; the usage chunk is read for the accounting and
  // dropped when the client did not ask for it.
  const stream = openSse(request, reply, { limits: call.limits, retryMs: null })
  call.openStreams.add(stream)
  stream.signal.addEventListener('abort', () => gone.abort(), { once: true })
  let usage: Usage | undefined
  let buffer = ''
  const decoder = new TextDecoder()
  const sendEvent = async (event: string) => {
    let data = ''
    for (const line of event.split('\n')) {
      if (line.startsWith('data:')) data += data === '' ? line.slice(line[5] === ' ' ? 6 : 5) : `\n${line.slice(line[5] === ' ' ? 6 : 5)}`
    }
    if (data === '') return
    if (data.includes('"usage":{')) {
      try {
        const chunk = JSON.parse(data) as { choices?: unknown[]; usage?: Parameters<typeof wireUsage>[0] }
        usage = wireUsage(chunk.usage) ?? usage
        if (!neutral.includeUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0) return
      } catch {
        // Not ours to judge: forwarded as it came.
      }
    }
    await stream.send({ data })
  }
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Buffer, { stream: true })
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const event = buffer.slice(0, end).replaceAll('\r', '')
        buffer = buffer.slice(end + 2)
        await sendEvent(event)
        end = buffer.indexOf('\n\n')
      }
    }
    buffer += decoder.decode()
    if (buffer.trim() !== '') await sendEvent(buffer.replaceAll('\r', ''))
    recordUsage(pt, call, 'chat.completions', started, 200, usage)
  } catch (err) {
    if (!gone.signal.aborted) {
      const failure = upstreamFailure(bodyError(target.label, err))
      await stream.send({ data: toOpenAIError({ status: statusOf(failure.code), code: String(failure.details?.reason), message: failure.message }) })
    }
    recordUsage(pt, call, 'chat.completions', started, gone.signal.aborted ? 499 : 502, usage)
  } finally {
    call.openStreams.delete(stream)
    stream.end()
  }
  return reply
}

/** Core's provider (Anthropic, echo): the neutral request out, its events as OpenAI's chunks or completion. */
async function translated(pt: Passthrough, call: PassCall, neutral: ChatCall): Promise<ChatCompletion | FastifyReply> {
  const { reply, request } = call
  const started = performance.now()
  const gone = clientGone(reply)
  const provider = pt.providers.get(call.target.provider)
  const meta = { id: `chatcmpl-${randomUUID().replaceAll('-', '')}`, model: call.requested, created: Math.floor(Date.now() / 1000) }
  const events = provider.stream({ ...neutral.request, model: call.target.model, signal: gone.signal })[Symbol.asyncIterator]()
  const fail = (err: unknown): never => {
    if (err instanceof ProviderError) {
      const failure = upstreamFailure(err)
      recordUsage(pt, call, 'chat.completions', started, statusOf(failure.code), undefined)
      throw failure
    }
    throw err
  }
  // The first event before any byte is written: an upstream error is still an HTTP error.
  let first: IteratorResult<ProviderEvent>
  try {
    first = await events.next()
  } catch (err) {
    if (gone.signal.aborted) return reply
    return fail(err)
  }
  if (!neutral.stream) {
    const all: ProviderEvent[] = []
    try {
      for (let next = first; !next.done; next = await events.next()) all.push(next.value)
    } catch (err) {
      if (gone.signal.aborted) return reply
      return fail(err)
    }
    const result = collectResult(all)
    recordUsage(pt, call, 'chat.completions', started, 200, result.usage)
    return neutralToChatCompletion(result, meta)
  }
  const encoder = createChatChunkEncoder({ ...meta, includeUsage: neutral.includeUsage })
  const stream = openSse(request, reply, { limits: call.limits, retryMs: null })
  call.openStreams.add(stream)
  stream.signal.addEventListener('abort', () => gone.abort(), { once: true })
  let usage: Usage | undefined
  try {
    for (const chunk of encoder.start()) await stream.send({ data: chunk })
    for (let next = first; !next.done; next = await events.next()) {
      if (next.value.type === 'done') usage = next.value.usage
      for (const chunk of encoder.push(next.value)) await stream.send({ data: chunk })
    }
    await stream.send({ data: '[DONE]' })
    recordUsage(pt, call, 'chat.completions', started, 200, usage)
  } catch (err) {
    if (!gone.signal.aborted) {
      const failure = err instanceof ProviderError ? upstreamFailure(err) : upstreamFailure(bodyError(call.target.provider, err))
      await stream.send({ data: toOpenAIError({ status: statusOf(failure.code), code: String(failure.details?.reason), message: failure.message }) })
    }
    recordUsage(pt, call, 'chat.completions', started, gone.signal.aborted ? 499 : 502, usage)
  } finally {
    call.openStreams.delete(stream)
    stream.end()
  }
  return reply
}
