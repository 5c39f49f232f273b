import { randomUUID } from 'node:crypto'
import {
  collectResult,
  createResponseEventEncoder,
  type ResponseObject,
  type ResponsesRequest,
  responseErrorCode,
  responsesRequestToNeutral,
  toResponseObject,
  unsupported,
} from '@openvesper/compat'
import { ProviderError, type ProviderEvent, type Usage } from '@openvesper/core'
import type { FastifyReply } from 'fastify'
import { statusOf } from '../http/errors.js'
import { openSse } from '../http/sse.js'
import { type PassCall, recordUsage } from './chat.js'
import { type Passthrough, upstreamFailure } from './index.js'

/**
 * `POST /v1/responses` for a provider model, stateless: the Responses request mapped to the neutral one (compat),
 * sent through core's provider for its wire (OpenAI chat completions or Anthropic Messages), the answer as a
 * response object or, with `stream: true`, as the Responses event sequence. Nothing is stored (the object says
 * `store: false`); `previous_response_id` and `background` need stored responses and are refused naming the field.
 */
export async function passResponses(pt: Passthrough, call: PassCall, body: ResponsesRequest): Promise<ResponseObject | FastifyReply> {
  const neutral = responsesRequestToNeutral(body)
  if (neutral.background) throw unsupported('background', 'background responses are not supported yet for provider models; send background: false')
  if (neutral.previousResponseId)
    throw unsupported(
      'previous_response_id',
      'previous_response_id is not supported yet for provider models (responses are not stored); send the conversation in input',
    )
  const { reply, request } = call
  const started = performance.now()
  const gone = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort()
  })
  const meta = {
    id: `resp_${randomUUID().replaceAll('-', '')}`,
    createdAt: Math.floor(Date.now() / 1000),
    model: call.requested,
    body: { ...body, store: false },
  }
  const events = pt.providers
    .get(call.target.provider)
    .stream({ ...neutral.request, model: call.target.model, signal: gone.signal })
    [Symbol.asyncIterator]()
  const fail = (err: unknown): never => {
    if (err instanceof ProviderError) {
      const failure = upstreamFailure(err)
      recordUsage(pt, call, 'responses', started, statusOf(failure.code), undefined)
      throw failure
    }
    throw err
  }
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
    recordUsage(pt, call, 'responses', started, 200, result.usage)
    return toResponseObject(meta, { status: 'completed', result })
  }
  const encoder = createResponseEventEncoder(meta)
  const stream = openSse(request, reply, { limits: call.limits, retryMs: null })
  call.openStreams.add(stream)
  stream.signal.addEventListener('abort', () => gone.abort(), { once: true })
  let usage: Usage | undefined
  try {
    for (const event of encoder.start()) await stream.send({ event: event.type, data: event })
    for (let next = first; !next.done; next = await events.next()) {
      if (next.value.type === 'done') usage = next.value.usage
      for (const event of encoder.push(next.value)) await stream.send({ event: event.type, data: event })
    }
    recordUsage(pt, call, 'responses', started, 200, usage)
  } catch (err) {
    if (!gone.signal.aborted) {
      const failure = err instanceof ProviderError ? upstreamFailure(err) : undefined
      const status = failure ? statusOf(failure.code) : 500
      for (const event of encoder.fail({ code: responseErrorCode(status), message: failure?.message ?? 'the model call failed' }))
        await stream.send({ event: event.type, data: event })
    }
    recordUsage(pt, call, 'responses', started, gone.signal.aborted ? 499 : 502, usage)
  } finally {
    call.openStreams.delete(stream)
    stream.end()
  }
  return reply
}
