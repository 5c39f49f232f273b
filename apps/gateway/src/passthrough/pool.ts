import { httpStatusError, ProviderError, transportError } from '@openvesper/core'
import { Agent, type Dispatcher, request as undiciRequest } from 'undici'

/**
 * The pass-through's upstream client: one keep-alive undici pool per provider (as core's providers hold), the
 * provider key added here and nowhere else, and every failure as core's `ProviderError` (status mapped, the
 * upstream's message sanitized: no key, no host), so the routes render it like a failed run.
 */

export interface UpstreamTarget {
  /** `openai` (the OpenAI wire format, forwarded as is). */
  label: string
  /** Base URL up to and including the API version (`https://api.openai.com/v1`). */
  baseUrl: string
  apiKey: string
}

export interface UpstreamResponse {
  status: number
  headers: Dispatcher.ResponseData['headers']
  body: Dispatcher.ResponseData['body']
}

export interface UpstreamPool {
  /**
   * POSTs `body` to `{baseUrl}{path}`; resolves once the upstream answered 2xx with its headers (the body still
   * streaming), throws ProviderError otherwise, or the signal's reason once aborted. Aborting later destroys the
   * body, which closes the upstream request.
   */
  post(target: UpstreamTarget, path: string, body: string, signal: AbortSignal): Promise<UpstreamResponse>
  close(): Promise<void>
}

const MAX_ERROR_BODY_BYTES = 64 * 1024

export function createUpstreamPool(options: { timeoutMs: number; connections?: number }): UpstreamPool {
  const { timeoutMs } = options
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: options.connections ?? 256,
    pipelining: 1,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  })
  return {
    async post(target, path, body, signal) {
      signal.throwIfAborted()
      let response: Dispatcher.ResponseData
      try {
        response = await undiciRequest(`${target.baseUrl}${path}`, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': 'application/json',
            ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}),
          },
          body,
          signal,
        })
      } catch (err) {
        if (signal.aborted) throw signal.reason
        throw transportError(target.label, err, false)
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await readLimited(response.body, MAX_ERROR_BODY_BYTES).catch(() => '')
        if (signal.aborted) throw signal.reason
        throw httpStatusError(target.label, response.statusCode, response.headers, text, target.apiKey)
      }
      return { status: response.statusCode, headers: response.headers, body: response.body }
    },
    close: () => agent.close(),
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    if (size >= limit) {
      body.destroy()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8')
}

/** A body that broke or stalled after the headers, as core classifies it (interrupted, or timed out). */
export function bodyError(label: string, err: unknown): ProviderError {
  return err instanceof ProviderError ? err : transportError(label, err, true)
}
