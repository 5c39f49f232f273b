import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The scripted LLM upstream: a real HTTP server on 127.0.0.1 speaking the OpenAI chat completions
 * (`POST /v1/chat/completions`) and Anthropic Messages (`POST /v1/messages`) wire formats, streaming
 * included. Each request consumes the next scripted reply (or the default) and is recorded.
 */

export type UpstreamProvider = 'openai' | 'anthropic'

export interface RecordedRequest {
  provider: UpstreamProvider
  path: string
  headers: Record<string, string | string[] | undefined>
  /** The parsed JSON body (`null` when it was not JSON). */
  body: any
  /** True when the client disconnected before the server finished its reply. */
  aborted: boolean
  /** `Date.now()` when the request body was received. */
  receivedAt: number
  /** The client's port: equal ports on consecutive requests mean a kept-alive connection. */
  remotePort: number | undefined
}

export interface ScriptedToolCall {
  id?: string
  name: string
  /** An object (serialized as JSON) or the exact JSON text the "model" produced. */
  arguments: Record<string, unknown> | string
}

export interface ScriptedUsage {
  inputTokens: number
  outputTokens: number
}

export interface ScriptedReplySpec {
  /** Assistant text; streamed in word-sized chunks when the request asks for `stream: true`. */
  text?: string
  /** Tool calls (after any text). Arguments are streamed in at least two fragments. */
  toolCalls?: ScriptedToolCall[]
  /** Reply text = the last user message's text. */
  echo?: boolean
  /** Usage to report; defaults to word counts of the prompt and the reply. */
  usage?: ScriptedUsage
  /** Overrides the stop reason (`max_tokens` → OpenAI `length`). */
  stopReason?: 'end_turn' | 'tool_use' | 'max_tokens'
  /** The answer ended at this stop sequence: Anthropic `stop_reason: 'stop_sequence'` with it, OpenAI `stop`. */
  stopSequence?: string
  /** An HTTP error in the provider's error shape, with an optional `Retry-After` header. */
  error?: { status: number; body?: unknown; retryAfter?: number | string }
  /** Wait before answering; a client disconnect during the wait ends the request (`aborted: true`). */
  delayMs?: number
  /** Delay between streamed chunks. */
  chunkDelayMs?: number
  /** Stream this many content chunks (text or argument fragments), then destroy the socket. */
  cutAfterChunks?: number
  /** Never answer (until the client disconnects). */
  hang?: boolean
  /** A 200 whose JSON body (or SSE data) is broken. */
  malformed?: boolean
}

export type ScriptedReply = ScriptedReplySpec | ((request: RecordedRequest) => ScriptedReply)

export interface FakeUpstream {
  /** Base URL (`http://127.0.0.1:PORT`): OpenAI base URL is `${url}/v1`, Anthropic base URL is `url`. */
  readonly url: string
  readonly requests: RecordedRequest[]
  enqueue(...replies: ScriptedReply[]): void
  /** The reply used when the queue is empty (initially `{ text: 'ok' }`). */
  setDefault(reply: ScriptedReply): void
  /** Clears the queue, the recorded requests and the default reply. */
  reset(): void
  /** `POST /v1/embeddings` requests received (bodies), in order. Answered with `fakeEmbedding` of each input. */
  readonly embeddingRequests: { body: any; headers: Record<string, string | string[] | undefined> }[]
  /** Faults for the next embeddings requests, one per request (then normal answers again). */
  enqueueEmbeddingFaults(...faults: { status: number; retryAfter?: number | string }[]): void
  close(): Promise<void>
}

const DEFAULT_REPLY: ScriptedReply = { text: 'ok' }
const MAX_BODY_BYTES = 10 * 1024 * 1024

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const queue: ScriptedReply[] = []
  const requests: RecordedRequest[] = []
  let fallback: ScriptedReply = DEFAULT_REPLY
  const embeddingRequests: FakeUpstream['embeddingRequests'][number][] = []
  const embeddingFaults: { status: number; retryAfter?: number | string }[] = []

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { message: 'fake upstream failure', type: 'server_error', code: null } }))
      } else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const provider: UpstreamProvider | undefined =
      req.method === 'POST' && path === '/v1/chat/completions' ? 'openai' : req.method === 'POST' && path === '/v1/messages' ? 'anthropic' : undefined
    const raw = await readBody(req)
    if (req.method === 'POST' && path === '/v1/embeddings') {
      answerEmbeddings(res, raw, req.headers)
      return
    }
    if (!provider) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}`, type: 'not_found', code: null } }))
      return
    }
    let body: unknown = null
    try {
      body = JSON.parse(raw)
    } catch {
      body = null
    }
    const recorded: RecordedRequest = {
      provider,
      path,
      headers: { ...req.headers },
      body,
      aborted: false,
      receivedAt: Date.now(),
      remotePort: req.socket.remotePort,
    }
    requests.push(recorded)

    const conn = trackConnection(res, recorded)
    if (body === null || typeof body !== 'object') {
      sendError(res, provider, { status: 400, body: undefined }, 'request body is not JSON')
      return
    }
    const reply = resolveReply(queue.length > 0 ? (queue.shift() as ScriptedReply) : fallback, recorded)

    if (reply.delayMs) await conn.wait(reply.delayMs)
    if (conn.closed) return
    if (reply.hang) {
      await conn.untilClosed
      return
    }
    if (reply.error) {
      sendError(res, provider, reply.error)
      return
    }
    const stream = (body as { stream?: unknown }).stream === true
    if (reply.malformed) {
      sendMalformed(res, stream)
      return
    }
    const answer = buildAnswer(reply, recorded)
    const write = provider === 'openai' ? writeOpenAI : writeAnthropic
    await write(res, conn, answer, stream, recorded.body)
  }

  function answerEmbeddings(res: ServerResponse, raw: string, headers: IncomingMessage['headers']): void {
    let body: { input?: unknown; model?: unknown; dimensions?: unknown } | null = null
    try {
      body = JSON.parse(raw)
    } catch {
      body = null
    }
    embeddingRequests.push({ body, headers: { ...headers } })
    const fault = embeddingFaults.shift()
    if (fault) {
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) }),
      })
      res.end(JSON.stringify({ error: { message: 'scripted embeddings fault', type: 'server_error', code: null } }))
      return
    }
    const inputs = typeof body?.input === 'string' ? [body.input] : Array.isArray(body?.input) ? body.input : undefined
    if (!inputs?.every((i) => typeof i === 'string')) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: 'input must be a string or an array of strings', type: 'invalid_request_error', code: null } }))
      return
    }
    const dim = typeof body?.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : 8
    // `encoding_format: 'base64'`: the little-endian float32 bytes in base64, as OpenAI sends them.
    const base64 = (body as { encoding_format?: unknown }).encoding_format === 'base64'
    const encode = (vector: number[]) => (base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector)
    const tokens = (inputs as string[]).reduce((sum, text) => sum + countWords(text), 0)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        object: 'list',
        model: body?.model ?? 'fake-embedding',
        data: (inputs as string[]).map((text, index) => ({ object: 'embedding', index, embedding: encode(fakeEmbedding(text, dim)) })),
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      }),
    )
  }

  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    embeddingRequests,
    enqueueEmbeddingFaults(...faults) {
      embeddingFaults.push(...faults)
    },
    enqueue(...replies) {
      queue.push(...replies)
    },
    setDefault(reply) {
      fallback = reply
    },
    reset() {
      queue.length = 0
      requests.length = 0
      embeddingRequests.length = 0
      embeddingFaults.length = 0
      fallback = DEFAULT_REPLY
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// Request plumbing

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

interface Connection {
  readonly closed: boolean
  readonly untilClosed: Promise<void>
  /** Resolves after `ms` or as soon as the client disconnects. */
  wait(ms: number): Promise<void>
  /** Writes a body chunk, remembering when it reaches the socket. */
  write(chunk: string): void
  /** Flushes what was written, then destroys the socket on purpose (not recorded as a client abort). */
  cut(): Promise<void>
}

function trackConnection(res: ServerResponse, recorded: RecordedRequest): Connection {
  let closed = false
  let cutByServer = false
  let flushed: Promise<void> = Promise.resolve()
  let onClose: () => void = () => {}
  const untilClosed = new Promise<void>((resolve) => {
    onClose = resolve
  })
  const markClosed = () => {
    closed = true
    if (!res.writableFinished && !cutByServer) recorded.aborted = true
    onClose()
  }
  // The client may already have gone while its body was being read.
  if (!res.socket || res.socket.destroyed) markClosed()
  else res.once('close', markClosed)
  return {
    get closed() {
      return closed
    },
    untilClosed,
    wait(ms) {
      if (closed) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        void untilClosed.then(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
    write(chunk) {
      if (closed) return
      flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()))
    },
    async cut() {
      cutByServer = true
      // Let what was written reach the client first, so it sees a stream that breaks mid-message.
      await Promise.race([flushed, untilClosed])
      res.socket?.destroy()
    },
  }
}

function resolveReply(reply: ScriptedReply, request: RecordedRequest): ScriptedReplySpec {
  let current = reply
  for (let depth = 0; typeof current === 'function'; depth++) {
    if (depth > 10) throw new Error('scripted reply functions nest too deeply')
    current = current(request)
  }
  return current
}

// ---------------------------------------------------------------------------------------------------
// The provider-neutral answer

interface Answer {
  text: string
  toolCalls: { id: string; name: string; arguments: string }[]
  stopReason: 'end_turn' | 'tool_use' | 'max_tokens'
  usage: ScriptedUsage
  chunkDelayMs: number
  cutAfterChunks: number | undefined
  stopSequence: string | undefined
}

function buildAnswer(reply: ScriptedReplySpec, request: RecordedRequest): Answer {
  const text = reply.echo ? lastUserText(request) : (reply.text ?? '')
  const toolCalls = (reply.toolCalls ?? []).map((call) => ({
    id: call.id ?? `${request.provider === 'openai' ? 'call' : 'toolu'}_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    name: call.name,
    arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
  }))
  const stopReason = reply.stopReason ?? (toolCalls.length > 0 ? 'tool_use' : 'end_turn')
  const usage = reply.usage ?? {
    inputTokens: countWords(promptText(request)),
    outputTokens: countWords(text) + toolCalls.length,
  }
  return { text, toolCalls, stopReason, usage, chunkDelayMs: reply.chunkDelayMs ?? 0, cutAfterChunks: reply.cutAfterChunks, stopSequence: reply.stopSequence }
}

/** Text of one wire message's content: a string, or the `text` of its text parts/blocks. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((part): part is { type: 'text'; text: string } => part?.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('')
}

function lastUserText(request: RecordedRequest): string {
  const messages: unknown[] = Array.isArray(request.body?.messages) ? request.body.messages : []
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown; content?: unknown }
    if (message?.role !== 'user') continue
    const text = contentText(message.content)
    if (text) return text
  }
  return ''
}

function promptText(request: RecordedRequest): string {
  const messages: unknown[] = Array.isArray(request.body?.messages) ? request.body.messages : []
  const system = typeof request.body?.system === 'string' ? request.body.system : contentText(request.body?.system)
  return [system, ...messages.map((m) => contentText((m as { content?: unknown })?.content))].join(' ')
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length
}

/** Splits text into word-sized chunks (each word with its following whitespace) that concatenate to it. */
function splitWords(text: string): string[] {
  if (!text) return []
  return text.split(/(?<=\s)(?=\S)/)
}

/** Splits JSON text into at least two fragments (when it has two characters or more). */
function splitFragments(json: string): string[] {
  if (json.length < 2) return [json]
  const parts = Math.min(3, json.length)
  const size = Math.ceil(json.length / parts)
  const out: string[] = []
  for (let i = 0; i < json.length; i += size) out.push(json.slice(i, i + size))
  return out
}

// ---------------------------------------------------------------------------------------------------
// Errors and malformed replies

function sendError(
  res: ServerResponse,
  provider: UpstreamProvider,
  error: { status: number; body?: unknown; retryAfter?: number | string },
  message?: string,
): void {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter)
  const body = error.body ?? (provider === 'openai' ? openAIError(error.status, message) : anthropicError(error.status, message))
  res.writeHead(error.status, headers)
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

function openAIError(status: number, message?: string) {
  const [type, code] =
    status === 401
      ? ['invalid_request_error', 'invalid_api_key']
      : status === 403
        ? ['invalid_request_error', 'unsupported_country_region_territory']
        : status === 404
          ? ['invalid_request_error', 'model_not_found']
          : status === 429
            ? ['requests', 'rate_limit_exceeded']
            : status >= 500
              ? ['server_error', null]
              : ['invalid_request_error', null]
  return { error: { message: message ?? `scripted ${status} error`, type, param: null, code } }
}

function anthropicError(status: number, message?: string) {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 403
        ? 'permission_error'
        : status === 404
          ? 'not_found_error'
          : status === 413
            ? 'request_too_large'
            : status === 429
              ? 'rate_limit_error'
              : status === 529
                ? 'overloaded_error'
                : status >= 500
                  ? 'api_error'
                  : 'invalid_request_error'
  return { type: 'error', error: { type, message: message ?? `scripted ${status} error` } }
}

function sendMalformed(res: ServerResponse, stream: boolean): void {
  if (stream) {
    res.writeHead(200, sseHeaders())
    res.end('data: {"id": "broken", "choices": [\n\nevent: content_block_delta\ndata: {not json at all\n\n')
  } else {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"id": "broken", "choices": [')
  }
}

/** A non-streamed JSON reply; with `cutAfterChunks` only its first half is sent before the socket is cut. */
async function sendJson(res: ServerResponse, conn: Connection, answer: Answer, payload: unknown): Promise<void> {
  const text = JSON.stringify(payload)
  res.writeHead(200, { 'content-type': 'application/json' })
  if (answer.cutAfterChunks === undefined) {
    res.end(text)
    return
  }
  conn.write(text.slice(0, Math.floor(text.length / 2)))
  await conn.cut()
}

function sseHeaders(): Record<string, string> {
  return { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' }
}

// ---------------------------------------------------------------------------------------------------
// Streaming helper shared by both wire formats

interface SseWriter {
  /** Writes one event; returns false when the connection is gone (the caller stops). */
  event(data: unknown, name?: string): Promise<boolean>
  /** Writes a content chunk; counts towards `cutAfterChunks`, cutting the socket when reached. */
  content(data: unknown, name?: string): Promise<boolean>
  raw(line: string): void
  end(): Promise<void>
}

function sseWriter(res: ServerResponse, conn: Connection, answer: Answer): SseWriter {
  let contentChunks = 0
  let first = true
  const write = async (data: unknown, name?: string): Promise<boolean> => {
    if (conn.closed) return false
    if (!first && answer.chunkDelayMs > 0) {
      await conn.wait(answer.chunkDelayMs)
      if (conn.closed) return false
    }
    first = false
    conn.write(`${name ? `event: ${name}\n` : ''}data: ${JSON.stringify(data)}\n\n`)
    return true
  }
  return {
    event: write,
    async content(data, name) {
      if (answer.cutAfterChunks !== undefined && contentChunks >= answer.cutAfterChunks) {
        await conn.cut()
        return false
      }
      contentChunks++
      return write(data, name)
    },
    raw(line) {
      conn.write(line)
    },
    async end() {
      if (conn.closed) return
      if (answer.cutAfterChunks !== undefined) return conn.cut()
      res.end()
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// OpenAI chat completions

type WriteReply = (res: ServerResponse, conn: Connection, answer: Answer, stream: boolean, body: any) => Promise<void>

const OPENAI_FINISH = { end_turn: 'stop', tool_use: 'tool_calls', max_tokens: 'length' } as const

const writeOpenAI: WriteReply = async (res, conn, answer, stream, body) => {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`
  const created = Math.floor(Date.now() / 1000)
  const model = typeof body.model === 'string' ? body.model : 'fake-model'
  const finishReason = OPENAI_FINISH[answer.stopReason]
  const usage = {
    prompt_tokens: answer.usage.inputTokens,
    completion_tokens: answer.usage.outputTokens,
    total_tokens: answer.usage.inputTokens + answer.usage.outputTokens,
  }
  const toolCalls = answer.toolCalls.map((call) => ({
    id: call.id,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }))

  if (!stream) {
    await sendJson(res, conn, answer, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: answer.text === '' && toolCalls.length > 0 ? null : answer.text,
            refusal: null,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage,
      system_fingerprint: 'fp_fake',
    })
    return
  }

  const includeUsage = body.stream_options?.include_usage === true
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  })
  res.writeHead(200, sseHeaders())
  const sse = sseWriter(res, conn, answer)
  if (!(await sse.event(chunk({ role: 'assistant', content: '', refusal: null })))) return
  for (const word of splitWords(answer.text)) {
    if (!(await sse.content(chunk({ content: word })))) return
  }
  for (const [index, call] of answer.toolCalls.entries()) {
    const head = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }
    if (!(await sse.event(chunk({ tool_calls: [head] })))) return
    for (const fragment of splitFragments(call.arguments)) {
      if (!(await sse.content(chunk({ tool_calls: [{ index, function: { arguments: fragment } }] })))) return
    }
  }
  if (answer.cutAfterChunks !== undefined) return sse.end()
  if (!(await sse.event(chunk({}, finishReason)))) return
  if (includeUsage) {
    if (!(await sse.event({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices: [], usage }))) return
  }
  sse.raw('data: [DONE]\n\n')
  await sse.end()
}

// ---------------------------------------------------------------------------------------------------
// Anthropic Messages

const writeAnthropic: WriteReply = async (res, conn, answer, stream, body) => {
  const id = `msg_${randomUUID().replaceAll('-', '').slice(0, 24)}`
  const model = typeof body.model === 'string' ? body.model : 'fake-model'
  const content: Record<string, unknown>[] = []
  if (answer.text !== '' || answer.toolCalls.length === 0) content.push({ type: 'text', text: answer.text })
  for (const call of answer.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: parseInput(call.arguments) })

  if (!stream) {
    await sendJson(res, conn, answer, {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: answer.stopSequence === undefined ? answer.stopReason : 'stop_sequence',
      stop_sequence: answer.stopSequence ?? null,
      usage: { input_tokens: answer.usage.inputTokens, output_tokens: answer.usage.outputTokens },
    })
    return
  }

  res.writeHead(200, sseHeaders())
  const sse = sseWriter(res, conn, answer)
  const start = {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: answer.usage.inputTokens, output_tokens: 1 },
    },
  }
  if (!(await sse.event(start, 'message_start'))) return
  let index = 0
  if (answer.text !== '' || answer.toolCalls.length === 0) {
    if (!(await sse.event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, 'content_block_start'))) return
    if (!(await sse.event({ type: 'ping' }, 'ping'))) return
    for (const word of splitWords(answer.text)) {
      const delta = { type: 'content_block_delta', index, delta: { type: 'text_delta', text: word } }
      if (!(await sse.content(delta, 'content_block_delta'))) return
    }
    if (!(await sse.event({ type: 'content_block_stop', index }, 'content_block_stop'))) return
    index++
  }
  for (const call of answer.toolCalls) {
    const block = { type: 'tool_use', id: call.id, name: call.name, input: {} }
    if (!(await sse.event({ type: 'content_block_start', index, content_block: block }, 'content_block_start'))) return
    for (const fragment of splitFragments(call.arguments)) {
      const delta = { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: fragment } }
      if (!(await sse.content(delta, 'content_block_delta'))) return
    }
    if (!(await sse.event({ type: 'content_block_stop', index }, 'content_block_stop'))) return
    index++
  }
  if (answer.cutAfterChunks !== undefined) return sse.end()
  const messageDelta = {
    type: 'message_delta',
    delta: { stop_reason: answer.stopSequence === undefined ? answer.stopReason : 'stop_sequence', stop_sequence: answer.stopSequence ?? null },
    usage: { output_tokens: answer.usage.outputTokens },
  }
  if (!(await sse.event(messageDelta, 'message_delta'))) return
  if (!(await sse.event({ type: 'message_stop' }, 'message_stop'))) return
  await sse.end()
}

function parseInput(json: string): unknown {
  try {
    return JSON.parse(json)
  } catch {
    return {}
  }
}

/**
 * The scripted upstream's deterministic embedding: each word (letters and digits, case-folded) adds its character
 * trigrams (`#word#`) and itself, hashed with signs into `dim` buckets; the sum is L2-normalised. Texts sharing words
 * or word stems (colour / colours, typos) are close by cosine; unrelated texts are near orthogonal. An empty text is
 * the unit vector on axis 0.
 */
export function fakeEmbedding(text: string, dim: number): number[] {
  const v = new Array<number>(dim).fill(0)
  const words =
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  const add = (feature: string, weight: number) => {
    let h = 0x811c9dc5
    for (let i = 0; i < feature.length; i++) {
      h ^= feature.charCodeAt(i)
      h = Math.imul(h, 0x01000193) >>> 0
    }
    v[h % dim]! += (h & 0x80000000 ? -1 : 1) * weight
  }
  for (const w of words) {
    const padded = `#${w}#`
    for (let i = 0; i + 3 <= padded.length; i++) add(padded.slice(i, i + 3), 1)
    add(`w:${w}`, 2)
  }
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0))
  if (norm === 0) {
    v[0] = 1
    return v
  }
  // float32-exact, so a vector sent as base64 float32 bytes decodes to the same numbers
  return v.map((x) => Math.fround(x / norm))
}
