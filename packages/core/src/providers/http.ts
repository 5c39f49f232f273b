import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { Agent, request as undiciRequest } from 'undici'
import { ProviderError, type Provider, type ProviderFailure } from './types.js'

/**
 * HTTP plumbing shared by the OpenAI and Anthropic providers: one keep-alive undici Agent per
 * provider, status → ProviderError mapping, Retry-After parsing, error-message sanitizing, and an SSE
 * reader that classifies transport failures (timeout, interruption, abort).
 */

export interface HttpProviderOptions {
  /** Base URL of the API (OpenAI: `https://api.openai.com/v1`; Anthropic: `https://api.anthropic.com`). */
  baseUrl: string
  apiKey: string
  /** Connect, response-headers and idle-between-chunks timeout. */
  timeoutMs: number
}

/** A provider holding a keep-alive connection pool; `close()` releases it. */
export interface HttpProvider extends Provider {
  close(): Promise<void>
}

export interface HttpClient {
  /** POSTs a JSON body and returns the response's SSE messages; throws ProviderError or the signal's reason. */
  streamEvents(input: { url: string; headers: Record<string, string>; body: unknown; signal: AbortSignal }): Promise<SseStream>
  close(): Promise<void>
}

export interface SseStream {
  messages: AsyncIterable<EventSourceMessage>
  /** True once at least one SSE message was received. */
  readonly receivedAny: boolean
}

const MAX_ERROR_BODY_BYTES = 64 * 1024

export function createHttpClient(label: string, options: HttpProviderOptions): HttpClient {
  const { timeoutMs, apiKey } = options
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: 128,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  })

  return {
    async streamEvents({ url, headers, body, signal }) {
      signal.throwIfAborted()
      let response: Awaited<ReturnType<typeof undiciRequest>>
      try {
        response = await undiciRequest(url, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
          body: JSON.stringify(body),
          signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        })
      } catch (err) {
        if (signal.aborted) throw signal.reason
        throw transportError(label, err, false)
      }

      const { statusCode } = response
      if (statusCode < 200 || statusCode >= 300) {
        const text = await readLimited(response.body, MAX_ERROR_BODY_BYTES).catch(() => '')
        if (signal.aborted) throw signal.reason
        throw httpStatusError(label, statusCode, response.headers, text, apiKey)
      }
      const contentType = String(response.headers['content-type'] ?? '')
      if (!contentType.includes('text/event-stream')) {
        response.body.destroy()
        throw new ProviderError(
          'upstream_bad_response',
          `${label} upstream answered ${statusCode} with content type '${sanitize(contentType, apiKey)}', expected an event stream`,
          { status: statusCode, retryable: false },
        )
      }
      return readSse(label, response.body, signal)
    },
    close: () => agent.close(),
  }
}

function readSse(label: string, body: AsyncIterable<unknown> & { destroy(): unknown; readableEnded?: boolean }, signal: AbortSignal): SseStream {
  const state = { receivedAny: false }
  async function* messages(): AsyncGenerator<EventSourceMessage> {
    const pending: EventSourceMessage[] = []
    const parser = createParser({
      onEvent: (message) => {
        pending.push(message)
      },
    })
    const decoder = new TextDecoder()
    try {
      for await (const chunk of body) {
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }))
        while (pending.length > 0) {
          state.receivedAny = true
          yield pending.shift() as EventSourceMessage
        }
      }
      parser.feed(decoder.decode())
      parser.reset({ consume: true })
      while (pending.length > 0) {
        state.receivedAny = true
        yield pending.shift() as EventSourceMessage
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (err instanceof ProviderError) throw err
      throw transportError(label, err, state.receivedAny)
    } finally {
      // Stopping early (abort, a consumer that stops iterating, a parse error) must close the request.
      if (!body.readableEnded) body.destroy()
    }
  }
  return {
    messages: messages(),
    get receivedAny() {
      return state.receivedAny
    },
  }
}

async function readLimited(body: AsyncIterable<unknown> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = Buffer.from(chunk as Uint8Array)
    chunks.push(buf)
    size += buf.length
    if (size >= limit) {
      body.destroy()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8')
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])

/** Maps a network-level failure. After stream data arrived, a broken connection is an interruption. */
export function transportError(label: string, err: unknown, afterData: boolean): ProviderError {
  const code = errorCode(err)
  if (code && TIMEOUT_CODES.has(code)) {
    return new ProviderError('upstream_timeout', `${label} upstream timed out (${code})`, { retryable: true })
  }
  if (afterData) {
    return new ProviderError('upstream_stream_interrupted', `${label} upstream stream was interrupted (${code ?? 'connection lost'})`, {
      retryable: false,
    })
  }
  return new ProviderError('upstream_unavailable', `${label} upstream is unreachable (${code ?? 'network error'})`, { retryable: true })
}

function errorCode(err: unknown): string | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** Maps a non-2xx response; the message carries at most a short sanitized upstream error message. */
export function httpStatusError(
  label: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  apiKey: string,
): ProviderError {
  const detail = upstreamErrorMessage(bodyText)
  const message = `${label} upstream answered HTTP ${status}${detail ? `: ${sanitize(detail, apiKey)}` : ''}`
  const retryAfterMs = parseRetryAfter(headers)
  const fail = (reason: ProviderFailure, retryable: boolean) =>
    new ProviderError(reason, message, { status, retryable, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })
  if (status === 429) return fail('upstream_rate_limited', true)
  if (status === 401 || status === 403) return fail('upstream_auth', false)
  if (status === 408) return fail('upstream_timeout', true)
  if (status >= 500) return fail('upstream_unavailable', true)
  if (status >= 400) return fail('upstream_bad_request', false)
  return fail('upstream_bad_response', false)
}

/** `error.message` of an OpenAI (`{error:{message}}`) or Anthropic (`{type:'error',error:{message}}`) error body. */
function upstreamErrorMessage(bodyText: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(bodyText)
    const error = (parsed as { error?: unknown })?.error
    if (typeof error === 'string') return error
    const message = (error as { message?: unknown })?.message
    return typeof message === 'string' ? message : undefined
  } catch {
    return undefined
  }
}

/** `retry-after-ms`, or `Retry-After` as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const first = (name: string) => {
    const value = headers[name]
    return Array.isArray(value) ? value[0] : value
  }
  const ms = first('retry-after-ms')?.trim()
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms))
  const value = first('retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000)
  const date = Date.parse(value)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

const MAX_DETAIL_CHARS = 200

/** Collapses whitespace, redacts the API key and anything key-like, and truncates. */
export function sanitize(text: string, apiKey: string): string {
  let out = text.replace(/\s+/g, ' ').trim()
  if (apiKey.length >= 4) {
    // The key as the upstream may echo it: raw, URL-encoded, or in base64 (a Basic credential).
    const b64 = Buffer.from(apiKey).toString('base64').replace(/=+$/, '')
    for (const form of new Set([apiKey, encodeURIComponent(apiKey), b64, Buffer.from(apiKey).toString('base64url')])) out = out.split(form).join('[redacted]')
    out = out.replace(/\[redacted\]=+/g, '[redacted]') // base64 padding
  }
  out = out
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/\b(?:sk|pk|rk|ak|key)[-_][A-Za-z0-9_*.-]{6,}/gi, '[redacted]')
    .replace(/[A-Za-z0-9_-]{32,}/g, '[redacted]')
  return out.length > MAX_DETAIL_CHARS ? `${out.slice(0, MAX_DETAIL_CHARS)}…` : out
}

/** Parses one SSE data payload as a JSON object, or fails with `upstream_bad_response`. */
export function parseEventData<T extends object>(label: string, data: string): T {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    throw new ProviderError('upstream_bad_response', `${label} upstream sent an event that is not valid JSON`, { retryable: false })
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ProviderError('upstream_bad_response', `${label} upstream sent an event that is not a JSON object`, { retryable: false })
  }
  return parsed as T
}

/** The clean end of a stream that never reached its terminal event. */
export function incompleteStream(label: string, receivedAny: boolean): ProviderError {
  return receivedAny
    ? new ProviderError('upstream_stream_interrupted', `${label} upstream stream ended before the message was complete`, {
        retryable: false,
      })
    : new ProviderError('upstream_bad_response', `${label} upstream sent an empty event stream`, { retryable: false })
}

export function trimTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '')
}
