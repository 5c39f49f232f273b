/**
 * The embeddings client: an OpenAI-compatible `POST {baseUrl}/embeddings`, a batch of texts per call. A 429 or 5xx
 * (or a network failure) is retried after the provider's `Retry-After` (seconds or an HTTP date), else an
 * exponential back-off, each delay capped; the API key never appears in an error.
 */
export interface EmbeddingsOptions {
  /** Base URL of the OpenAI-compatible API, e.g. `https://api.openai.com/v1`. */
  baseUrl: string
  apiKey?: string
  model: string
  dimension: number
  /** Texts per request. */
  batchSize: number
  maxRetries: number
  retryMaxDelayMs: number
  timeoutMs: number
}

export interface EmbeddingsClient {
  readonly model: string
  readonly dimension: number
  /** One vector per text, in order; batches of `batchSize`. */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>
}

export class EmbeddingsError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'EmbeddingsError'
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(signal.reason)
      },
      { once: true },
    )
  })

/** Milliseconds a `Retry-After` header asks for, or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined
  if (/^\d+(\.\d+)?$/.test(header.trim())) return Math.round(Number(header) * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

export function createEmbeddingsClient(options: EmbeddingsOptions): EmbeddingsClient {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/embeddings`

  async function once(input: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    for (let attempt = 0; ; attempt++) {
      let res: Response
      const timeout = AbortSignal.timeout(options.timeoutMs)
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
          body: JSON.stringify({ model: options.model, input, dimensions: options.dimension, encoding_format: 'float' }),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        })
      } catch (err) {
        if (signal?.aborted) throw signal.reason
        if (attempt >= options.maxRetries) throw new EmbeddingsError(`embeddings provider unreachable: ${(err as Error).message}`)
        await sleep(Math.min(options.retryMaxDelayMs, 250 * 2 ** attempt), signal)
        continue
      }
      if (res.ok) {
        const body = (await res.json().catch(() => null)) as { data?: { index?: number; embedding?: unknown }[] } | null
        const data = body?.data
        if (!Array.isArray(data) || data.length !== input.length) throw new EmbeddingsError('embeddings provider answered an unexpected body')
        const out: number[][] = new Array(input.length)
        data.forEach((d, i) => {
          const v = d.embedding
          if (!Array.isArray(v) || v.length !== options.dimension || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
            throw new EmbeddingsError(`embeddings provider answered a vector that is not ${options.dimension} numbers`)
          out[typeof d.index === 'number' ? d.index : i] = v as number[]
        })
        return out
      }
      await res.body?.cancel().catch(() => {})
      const retriable = res.status === 429 || res.status >= 500
      if (!retriable || attempt >= options.maxRetries) throw new EmbeddingsError(`embeddings provider answered HTTP ${res.status}`, res.status)
      const wait = retryAfterMs(res.headers.get('retry-after')) ?? 250 * 2 ** attempt
      await sleep(Math.min(options.retryMaxDelayMs, wait), signal)
    }
  }

  return {
    model: options.model,
    dimension: options.dimension,
    async embed(texts, signal) {
      const out: number[][] = []
      for (let i = 0; i < texts.length; i += options.batchSize) out.push(...(await once(texts.slice(i, i + options.batchSize), signal)))
      return out
    },
  }
}
