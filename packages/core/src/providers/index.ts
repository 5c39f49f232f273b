import { AppError } from '@openvesper/shared'
import { createAnthropicProvider } from './anthropic.js'
import { createEchoProvider } from './echo.js'
import type { HttpProviderOptions } from './http.js'
import { createOpenAIProvider } from './openai.js'
import { withRetries, type RetryOptions } from './retry.js'
import type { Provider } from './types.js'

export * from './types.js'
export { createOpenAIProvider, fromOpenAIFinishReason, toOpenAIRequest, type OpenAIProviderOptions } from './openai.js'
export { createAnthropicProvider, fromAnthropicStopReason, toAnthropicRequest, toAnthropicMessages, type AnthropicProviderOptions } from './anthropic.js'
export { createEchoProvider } from './echo.js'
export { withRetries, retryDelay, type RetryOptions, type RetryInfo } from './retry.js'
export { parseRetryAfter, type HttpProvider, type HttpProviderOptions } from './http.js'

export type ProviderName = 'openai' | 'anthropic' | 'echo'

export interface ModelRef {
  provider: string
  model: string
}

/** `openai/gpt-4o-mini` → `{ provider: 'openai', model: 'gpt-4o-mini' }`; `echo` → `{ provider: 'echo', model: 'echo' }`. */
export function parseModelRef(ref: string): ModelRef {
  const trimmed = ref.trim()
  if (trimmed === 'echo') return { provider: 'echo', model: 'echo' }
  const slash = trimmed.indexOf('/')
  const provider = slash > 0 ? trimmed.slice(0, slash) : ''
  const model = slash > 0 ? trimmed.slice(slash + 1) : ''
  if (!provider || !model) {
    throw new AppError('invalid_request', `model '${trimmed.slice(0, 100)}' must be 'provider/model' (e.g. 'openai/gpt-4o-mini') or 'echo'`)
  }
  return { provider, model }
}

export interface ProviderRegistryOptions {
  openai?: HttpProviderOptions
  anthropic?: HttpProviderOptions
  retry: Pick<RetryOptions, 'maxRetries' | 'maxDelayMs'> & Partial<Omit<RetryOptions, 'maxRetries' | 'maxDelayMs'>>
}

export interface ProviderRegistry {
  /** The configured provider (retries included); throws `invalid_request` for an unconfigured one. */
  get(providerName: string): Provider
  /** Releases the HTTP connection pools. */
  close(): Promise<void>
}

/** Builds the configured providers (no I/O); `echo` is always available. */
export function createProviderRegistry(options: ProviderRegistryOptions): ProviderRegistry {
  const closers: (() => Promise<void>)[] = []
  const providers = new Map<string, Provider>()
  providers.set('echo', createEchoProvider())
  if (options.openai) {
    const openai = createOpenAIProvider(options.openai)
    closers.push(() => openai.close())
    providers.set('openai', withRetries(openai, options.retry))
  }
  if (options.anthropic) {
    const anthropic = createAnthropicProvider(options.anthropic)
    closers.push(() => anthropic.close())
    providers.set('anthropic', withRetries(anthropic, options.retry))
  }
  return {
    get(providerName) {
      const provider = providers.get(providerName)
      if (!provider) {
        const known = [...providers.keys()].join(', ')
        throw new AppError('invalid_request', `provider '${providerName.slice(0, 50)}' is not configured (configured: ${known})`)
      }
      return provider
    },
    async close() {
      await Promise.all(closers.map((close) => close()))
    },
  }
}
export { httpStatusError, transportError, sanitize } from './http.js'
export { createModelUsageRepo, type ModelUsageRepo } from './usage.repo.js'
