import { type NeutralRequest, unsupported } from '@openvesper/compat'
import { type ChatRequest, parseModelRef, type Provider, ProviderError, type ProviderEvent, type ProviderRegistry } from '@openvesper/core'
import { AppError } from '@openvesper/shared'
import { runFailure } from './errors.js'

/** A `provider/model` (or `echo`) the registry serves: the provider and the model name it is sent. */
export interface ProviderModel {
  provider: Provider
  model: string
}

/** The provider model `model` names, or undefined when it names none (no slash, or an unconfigured provider). */
export function resolveProviderModel(providers: ProviderRegistry, model: string): ProviderModel | undefined {
  if (model !== 'echo' && !model.includes('/')) return undefined
  let ref: ReturnType<typeof parseModelRef>
  try {
    ref = parseModelRef(model)
  } catch {
    return undefined
  }
  try {
    return { provider: providers.get(ref.provider), model: ref.model }
  } catch {
    return undefined
  }
}

/** The neutral request as the provider call: the model without its prefix, the client's connection as the signal. */
export function toProviderRequest(request: NeutralRequest, target: ProviderModel, signal: AbortSignal): ChatRequest {
  const { responseFormat: _f, metadata: _m, seed: _s, ...rest } = request
  if (request.toolChoice && !request.tools?.length && request.toolChoice.type !== 'none' && request.toolChoice.type !== 'auto')
    throw unsupported('tool_choice', 'tool_choice requires tools')
  return { ...rest, model: target.model, signal }
}

/**
 * A provider failure as the surface's error: the status of its reason (429 rate limited with the upstream's
 * Retry-After, 503 unavailable, 400 refused, 502 otherwise), the provider's sanitized message.
 */
export function providerFailure(err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err
  const error = runFailure(err.reason, err.message)
  const retryAfterMs = err.options.retryAfterMs
  if (retryAfterMs === undefined) return error
  return new AppError(error.code, error.message, { details: { ...error.details, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) } })
}

/**
 * Starts a provider stream and waits for its first event, so a call that fails before answering (rate limit,
 * refused request, unreachable upstream, after the registry's retries) is an HTTP error, not an opened stream.
 */
export async function firstEvent(events: AsyncIterable<ProviderEvent>): Promise<{ first: ProviderEvent | undefined; rest: AsyncIterator<ProviderEvent> }> {
  const rest = events[Symbol.asyncIterator]()
  try {
    const step = await rest.next()
    return { first: step.done ? undefined : step.value, rest }
  } catch (err) {
    throw providerFailure(err)
  }
}
