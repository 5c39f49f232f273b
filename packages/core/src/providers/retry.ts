import { sleep as abortableSleep } from '@openvesper/shared'
import { ProviderError, type ChatRequest, type Provider, type ProviderEvent, type ProviderFailure } from './types.js'

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number
  delayMs: number
  reason: ProviderFailure
}

export interface RetryOptions {
  /** Retries after the first call (0 = no retries). */
  maxRetries: number
  /** Upper bound of any single wait, Retry-After included. */
  maxDelayMs: number
  baseDelayMs?: number
  /** Injected for tests; must honour `signal` (the wrapper also races it). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Called before each wait. */
  onRetry?: (info: RetryInfo) => void
  /** Random source in [0, 1) for the jitter. */
  random?: () => number
}

/**
 * Retries a call that failed with a retryable ProviderError before it yielded anything. Once an event was
 * yielded, errors propagate unchanged so the consumer never sees duplicated output. The wait is the
 * upstream's Retry-After (capped at `maxDelayMs`), else exponential backoff with jitter.
 */
export function withRetries(provider: Provider, options: RetryOptions): Provider {
  const { maxRetries, maxDelayMs, baseDelayMs = 250, sleep = abortableSleep, onRetry, random = Math.random } = options

  async function* stream(request: ChatRequest): AsyncGenerator<ProviderEvent> {
    for (let attempt = 0; ; attempt++) {
      let yielded = false
      try {
        for await (const event of provider.stream(request)) {
          yielded = true
          yield event
        }
        return
      } catch (err) {
        if (yielded || request.signal.aborted || attempt >= maxRetries) throw err
        if (!(err instanceof ProviderError) || !err.options.retryable) throw err
        const delayMs = retryDelay(err, attempt, { baseDelayMs, maxDelayMs, random })
        onRetry?.({ attempt: attempt + 1, delayMs, reason: err.reason })
        await raceAbort(sleep(delayMs, request.signal), request.signal)
      }
    }
  }

  return { name: provider.name, stream }
}

/** Retry-After when the upstream sent one, else `base * 2^attempt` with equal jitter; both capped. */
export function retryDelay(
  err: ProviderError,
  attempt: number,
  { baseDelayMs, maxDelayMs, random }: { baseDelayMs: number; maxDelayMs: number; random: () => number },
): number {
  const { retryAfterMs } = err.options
  if (retryAfterMs !== undefined) return Math.min(Math.max(0, retryAfterMs), maxDelayMs)
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

function raceAbort(wait: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    wait.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    wait.then(
      () => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
