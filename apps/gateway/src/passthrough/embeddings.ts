import { type EmbeddingsRequest, embeddingsRequestToNeutral, unsupported } from '@openvesper/compat'
import { ProviderError } from '@openvesper/core'
import type { FastifyReply } from 'fastify'
import { statusOf } from '../http/errors.js'
import { type PassCall, recordUsage } from './chat.js'
import { type Passthrough, upstreamFailure } from './index.js'
import { bodyError } from './pool.js'

/**
 * `POST /v1/embeddings` for a provider model: the body forwarded as is to the OpenAI-wire provider (its model
 * name, its key), the answer sent back unchanged (floats or `encoding_format: base64` as the provider encoded
 * them); usage to the batched recorder. Anthropic has no embeddings API: a 400 naming `model`.
 */
export async function passEmbeddings(
  pt: Passthrough,
  call: Pick<PassCall, 'principal' | 'target' | 'request' | 'reply'>,
  body: EmbeddingsRequest,
): Promise<FastifyReply> {
  embeddingsRequestToNeutral(body) // refuses token-array input, naming `input`
  const target = pt.openai
  if (call.target.provider !== 'openai' || !target)
    throw unsupported('model', `provider '${call.target.provider}' has no embeddings API through the gateway; use an openai/… embedding model`)
  const started = performance.now()
  const ctrl = new AbortController()
  call.reply.raw.once('close', () => {
    if (!call.reply.raw.writableFinished) ctrl.abort()
  })
  let text: string
  try {
    const response = await pt.pool.post(target, '/embeddings', JSON.stringify({ ...body, model: call.target.model }), ctrl.signal)
    try {
      text = await response.body.text()
    } catch (err) {
      throw bodyError(target.label, err)
    }
  } catch (err) {
    if (err instanceof ProviderError) {
      const failure = upstreamFailure(err)
      recordUsage(pt, call, 'embeddings', started, statusOf(failure.code), undefined)
      throw failure
    }
    throw err
  }
  let inputTokens: number | undefined
  try {
    const usage = (JSON.parse(text) as { usage?: { prompt_tokens?: unknown } }).usage
    if (typeof usage?.prompt_tokens === 'number') inputTokens = usage.prompt_tokens
  } catch {
    throw upstreamFailure(new ProviderError('upstream_bad_response', `${target.label} upstream sent a body that is not JSON`, { retryable: false }))
  }
  recordUsage(pt, call, 'embeddings', started, 200, inputTokens === undefined ? undefined : { inputTokens, outputTokens: 0 })
  return call.reply.code(200).type('application/json; charset=utf-8').send(text)
}
