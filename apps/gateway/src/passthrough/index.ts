import type { Config } from '@openvesper/config'
import { createModelUsageRepo, type ModelRef, type ProviderError, type ProviderRegistry, parseModelRef } from '@openvesper/core'
import type { Db } from '@openvesper/db'
import { AppError, type ErrorCode, type Logger } from '@openvesper/shared'
import { failureStatus } from '@openvesper/compat'
import { createUpstreamPool, type UpstreamPool, type UpstreamTarget } from './pool.js'
import { createUsageRecorder, type UsageRecorder } from './usage.js'

/**
 * Pass-through to provider models (`provider/model` or an alias on the compat surfaces): which models resolve,
 * the pooled upstream client for the OpenAI wire format, core's providers for the other wires (translated), and
 * the batched usage recorder. Built by the runtime; the routes only call it.
 */
export interface Passthrough {
  /** The provider model a compat `model` names (an alias or `provider/model` of a configured provider), or undefined. */
  resolve(model: string): ModelRef | undefined
  /** The provider models `/v1/models` lists: the aliases, then one entry per configured provider's default model. */
  listed(): { id: string; provider: string }[]
  /** The OpenAI wire target (forwarded as is), when `openai` is configured. */
  readonly openai: UpstreamTarget | undefined
  readonly pool: UpstreamPool
  /** Core's providers: the translated (non-OpenAI-wire) pass-through. */
  readonly providers: ProviderRegistry
  readonly usage: UsageRecorder
  stop(): Promise<void>
}

const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1'
const ANTHROPIC_DEFAULT_BASE = 'https://api.anthropic.com'

export function createPassthrough(deps: { config: Config; providers: ProviderRegistry; db: Db; log: Logger }): Passthrough {
  const up = deps.config.upstream
  // A provider is configured when it has a key or a base URL of its own (a local OpenAI-compatible server needs no key).
  const configured = new Set<string>()
  if (up.openaiApiKey || up.openaiBaseUrl !== OPENAI_DEFAULT_BASE) configured.add('openai')
  if (up.anthropicApiKey || up.anthropicBaseUrl !== ANTHROPIC_DEFAULT_BASE) configured.add('anthropic')
  const aliases = new Map<string, ModelRef>()
  for (const entry of up.aliases) {
    const eq = entry.indexOf('=')
    aliases.set(entry.slice(0, eq), parseModelRef(entry.slice(eq + 1)))
  }
  const pool = createUpstreamPool({ timeoutMs: up.timeoutMs })
  const usage = createUsageRecorder({ repo: createModelUsageRepo(deps.db), log: deps.log })
  const openai = configured.has('openai') ? { label: 'openai', baseUrl: up.openaiBaseUrl.replace(/\/+$/, ''), apiKey: up.openaiApiKey ?? '' } : undefined
  return {
    resolve(model) {
      const alias = aliases.get(model)
      if (alias) return configured.has(alias.provider) ? alias : undefined
      const slash = model.indexOf('/')
      if (slash <= 0 || slash === model.length - 1) return undefined
      const ref = { provider: model.slice(0, slash), model: model.slice(slash + 1) }
      return configured.has(ref.provider) ? ref : undefined
    },
    listed() {
      return [...aliases.entries()].filter(([, ref]) => configured.has(ref.provider)).map(([id, ref]) => ({ id, provider: ref.provider }))
    },
    openai,
    pool,
    providers: deps.providers,
    usage,
    async stop() {
      await usage.stop()
      await pool.close()
    },
  }
}

/**
 * A failed upstream call as the compat surfaces report it: the status compat's `failureStatus` gives its reason,
 * the reason as `code`, the (sanitized) message, and the upstream's Retry-After.
 */
export function upstreamFailure(err: ProviderError): AppError {
  const status = failureStatus(err.reason)
  const code: ErrorCode = status === 429 ? 'rate_limited' : status === 503 ? 'unavailable' : status === 400 ? 'invalid_request' : 'upstream_error'
  const retryAfterMs = err.options.retryAfterMs
  return new AppError(code, err.message, {
    details: { reason: err.reason, ...(retryAfterMs === undefined ? {} : { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) }) },
  })
}
