import { startFakeUpstream, waitFor, type FakeUpstream } from '@openvesper/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { HttpProvider } from '../src/providers/http.js'
import { withRetries, type RetryInfo } from '../src/providers/retry.js'
import { ProviderError, type ChatRequest, type Provider, type ProviderEvent } from '../src/providers/types.js'

export const API_KEY = 'sk-test-SECRETSECRETSECRET0123456789'

export type ProviderFactory = (upstream: FakeUpstream, options?: { timeoutMs?: number; apiKey?: string }) => HttpProvider

export interface Collected {
  events: ProviderEvent[]
  text: string
  error: unknown
}

/** Drains a provider stream, keeping what was yielded before any error. */
export async function collect(stream: AsyncIterable<ProviderEvent>, onEvent?: (event: ProviderEvent) => void): Promise<Collected> {
  const events: ProviderEvent[] = []
  let error: unknown
  try {
    for await (const event of stream) {
      events.push(event)
      onEvent?.(event)
    }
  } catch (err) {
    error = err
  }
  const text = events.map((e) => (e.type === 'text_delta' ? e.text : '')).join('')
  return { events, text, error }
}

export function chat(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'test-model',
    messages: [{ role: 'user', content: 'hello there' }],
    signal: new AbortController().signal,
    ...overrides,
  }
}

function expectProviderError(error: unknown, reason: ProviderError['reason']): ProviderError {
  expect(error).toBeInstanceOf(ProviderError)
  expect((error as ProviderError).reason).toBe(reason)
  return error as ProviderError
}

/** The behaviour every HTTP provider shares, run over the scripted upstream. */
export function defineProviderContractTests(name: string, factory: ProviderFactory): void {
  describe(`${name} provider contract`, () => {
    let upstream: FakeUpstream
    const created: HttpProvider[] = []
    const make = (options?: { timeoutMs?: number; apiKey?: string }) => {
      const provider = factory(upstream, options)
      created.push(provider)
      return provider
    }
    const retrying = (provider: Provider, maxRetries = 2) => {
      const delays: number[] = []
      const retries: RetryInfo[] = []
      const wrapped = withRetries(provider, {
        maxRetries,
        maxDelayMs: 5_000,
        sleep: async (ms) => {
          delays.push(ms)
        },
        onRetry: (info) => retries.push(info),
      })
      return { wrapped, delays, retries }
    }

    beforeAll(async () => {
      upstream = await startFakeUpstream()
    })
    beforeEach(() => upstream.reset())
    afterEach(async () => {
      await Promise.all(created.splice(0).map((p) => p.close()))
    })
    afterAll(async () => {
      await upstream.close()
    })

    it('streams text deltas that concatenate to the reply, then done with usage', async () => {
      upstream.enqueue({ text: 'The quick brown fox jumps.', usage: { inputTokens: 12, outputTokens: 7 } })
      const { events, text, error } = await collect(make().stream(chat()))
      expect(error).toBeUndefined()
      expect(text).toBe('The quick brown fox jumps.')
      expect(events.filter((e) => e.type === 'text_delta').length).toBeGreaterThan(1)
      expect(events.at(-1)).toEqual({ type: 'done', stopReason: 'end_turn', usage: { inputTokens: 12, outputTokens: 7 } })
      expect(upstream.requests).toHaveLength(1)
      expect(upstream.requests[0]?.body.stream).toBe(true)
    })

    it('assembles fragmented tool-call arguments into complete calls, after the text', async () => {
      upstream.enqueue({
        text: 'Let me check.',
        toolCalls: [
          { id: 'call_a', name: 'get_weather', arguments: { city: 'Paris', units: 'metric', days: [1, 2, 3] } },
          { id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
        ],
      })
      const { events, error } = await collect(make().stream(chat()))
      expect(error).toBeUndefined()
      expect(events.map((e) => e.type)).toEqual(['text_delta', 'text_delta', 'text_delta', 'tool_call', 'tool_call', 'done'])
      const calls = events.flatMap((e) => (e.type === 'tool_call' ? [e.call] : []))
      expect(calls).toEqual([
        { id: 'call_a', name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', units: 'metric', days: [1, 2, 3] }) },
        { id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
      ])
      expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'tool_use' })
    })

    it('reports max_tokens as the stop reason', async () => {
      upstream.enqueue({ text: 'cut short', stopReason: 'max_tokens' })
      const { events } = await collect(make().stream(chat()))
      expect(events.at(-1)).toMatchObject({ type: 'done', stopReason: 'max_tokens' })
    })

    it('retries a 429 after the Retry-After delay, then succeeds', async () => {
      upstream.enqueue({ error: { status: 429, retryAfter: 1 } }, { text: 'after the wait' })
      const { wrapped, delays, retries } = retrying(make())
      const { text, error } = await collect(wrapped.stream(chat()))
      expect(error).toBeUndefined()
      expect(text).toBe('after the wait')
      expect(delays).toEqual([1000])
      expect(retries).toEqual([{ attempt: 1, delayMs: 1000, reason: 'upstream_rate_limited' }])
      expect(upstream.requests).toHaveLength(2)
    })

    it('fails with upstream_unavailable after maxRetries + 1 calls of 500', async () => {
      upstream.enqueue({ error: { status: 500 } }, { error: { status: 500 } }, { error: { status: 500 } }, { text: 'never reached' })
      const { wrapped, delays } = retrying(make(), 2)
      const { events, error } = await collect(wrapped.stream(chat()))
      const failure = expectProviderError(error, 'upstream_unavailable')
      expect(failure.options).toMatchObject({ status: 500, retryable: true })
      expect(events).toEqual([])
      expect(upstream.requests).toHaveLength(3)
      expect(delays).toHaveLength(2)
      for (const delay of delays) expect(delay).toBeLessThanOrEqual(5_000)
    })

    it('does not retry a 401 and never leaks the API key or the raw body', async () => {
      upstream.enqueue({
        error: {
          status: 401,
          body:
            name === 'openai'
              ? { error: { message: `Incorrect API key provided: ${API_KEY}. Body secret raw-xyz`, type: 'invalid_request_error', code: 'invalid_api_key' } }
              : { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${API_KEY}` } },
        },
      })
      const { wrapped, retries } = retrying(make())
      const { error } = await collect(wrapped.stream(chat()))
      const failure = expectProviderError(error, 'upstream_auth')
      expect(failure.options).toMatchObject({ status: 401, retryable: false })
      expect(failure.message).not.toContain(API_KEY)
      expect(failure.message).not.toContain('SECRETSECRET')
      expect(failure.message).not.toContain('{')
      expect(retries).toEqual([])
      expect(upstream.requests).toHaveLength(1)
    })

    it('does not retry other 4xx (upstream_bad_request)', async () => {
      upstream.enqueue({ error: { status: 400 } })
      const { wrapped } = retrying(make())
      const { error } = await collect(wrapped.stream(chat()))
      expect(expectProviderError(error, 'upstream_bad_request').options.retryable).toBe(false)
      expect(upstream.requests).toHaveLength(1)
    })

    it('fails with upstream_stream_interrupted after yielding the partial deltas, without retrying', async () => {
      upstream.enqueue({ text: 'one two three four five six', cutAfterChunks: 2 }, { text: 'must not be used' })
      const { wrapped, retries } = retrying(make())
      const { events, text, error } = await collect(wrapped.stream(chat()))
      expect(expectProviderError(error, 'upstream_stream_interrupted').options.retryable).toBe(false)
      expect(text).toBe('one two ')
      expect(events.every((e) => e.type === 'text_delta')).toBe(true)
      expect(retries).toEqual([])
      expect(upstream.requests).toHaveLength(1)
    })

    it('stops the upstream request when the signal aborts mid-stream', async () => {
      upstream.enqueue({ text: 'a b c d e f g h i j k l m n o p', chunkDelayMs: 50 })
      const controller = new AbortController()
      const reason = new Error('user aborted')
      const { events, error } = await collect(make().stream(chat({ signal: controller.signal })), (event) => {
        if (event.type === 'text_delta') controller.abort(reason)
      })
      expect(error).toBe(reason)
      expect(events.filter((e) => e.type === 'text_delta').length).toBeLessThan(16)
      expect(events.some((e) => e.type === 'done')).toBe(false)
      await waitFor(() => upstream.requests[0]?.aborted, { timeoutMs: 5_000, what: 'the upstream to see the disconnect' })
    })

    it('stops the upstream request when the signal aborts before the response headers', async () => {
      upstream.enqueue({ delayMs: 30_000, text: 'late' })
      const controller = new AbortController()
      const reason = new Error('cancelled')
      const pending = collect(make().stream(chat({ signal: controller.signal })))
      await waitFor(() => upstream.requests.length === 1, { what: 'the request to arrive' })
      controller.abort(reason)
      expect((await pending).error).toBe(reason)
      await waitFor(() => upstream.requests[0]?.aborted, { timeoutMs: 5_000, what: 'the upstream to see the disconnect' })
    })

    it('does not retry once aborted', async () => {
      upstream.enqueue({ error: { status: 503 } })
      const controller = new AbortController()
      const reason = new Error('gone')
      const wrapped = withRetries(make(), {
        maxRetries: 3,
        maxDelayMs: 60_000,
        baseDelayMs: 60_000,
        onRetry: () => controller.abort(reason),
      })
      const { error } = await collect(wrapped.stream(chat({ signal: controller.signal })))
      expect(error).toBe(reason)
      expect(upstream.requests).toHaveLength(1)
    })

    it('times out on a hanging upstream with upstream_timeout and disconnects', async () => {
      upstream.enqueue({ hang: true })
      const { error } = await collect(make({ timeoutMs: 200 }).stream(chat()))
      expect(expectProviderError(error, 'upstream_timeout').options.retryable).toBe(true)
      await waitFor(() => upstream.requests[0]?.aborted, { timeoutMs: 5_000, what: 'the upstream to see the disconnect' })
    })

    it('times out when the stream goes idle between chunks', async () => {
      upstream.enqueue({ text: 'first then nothing for a long time', chunkDelayMs: 20_000 })
      const { error } = await collect(make({ timeoutMs: 200 }).stream(chat()))
      expectProviderError(error, 'upstream_timeout')
      await waitFor(() => upstream.requests[0]?.aborted, { timeoutMs: 5_000, what: 'the upstream to see the disconnect' })
    })

    it('fails a malformed stream with upstream_bad_response, without retrying', async () => {
      upstream.enqueue({ malformed: true }, { text: 'must not be used' })
      const { wrapped } = retrying(make())
      const { error } = await collect(wrapped.stream(chat()))
      expect(expectProviderError(error, 'upstream_bad_response').options.retryable).toBe(false)
      expect(upstream.requests).toHaveLength(1)
    })

    it('maps an unreachable upstream to upstream_unavailable', async () => {
      const dead = await startFakeUpstream()
      await dead.close()
      const provider = factory(dead, { timeoutMs: 2_000 })
      created.push(provider)
      const { error } = await collect(provider.stream(chat()))
      expect(expectProviderError(error, 'upstream_unavailable').options.retryable).toBe(true)
    })

    it('serves consecutive requests over kept-alive connections', async () => {
      upstream.setDefault({ echo: true })
      const provider = make()
      for (const word of ['alpha', 'beta', 'gamma', 'delta']) {
        const { text } = await collect(provider.stream(chat({ messages: [{ role: 'user', content: word }] })))
        expect(text).toBe(word)
      }
      expect(upstream.requests).toHaveLength(4)
      // undici may open a second connection while the first is being released; it never opens one per request.
      expect(new Set(upstream.requests.map((r) => r.remotePort)).size).toBeLessThan(4)
    })
  })
}
