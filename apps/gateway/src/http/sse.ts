import type { FastifyReply, FastifyRequest } from 'fastify'
import { createStreamGuard, type StreamLimits } from './stream-guard.js'

export const SSE_KEEPALIVE_MS = 15_000
export const SSE_RETRY_MS = 3000

/** One server-sent event. `data` is sent as is when a string (one `data:` line per line), else as JSON. */
export interface SseFrame {
  id?: string | number
  event?: string
  data: string | object
}

export interface SseOptions {
  limits: StreamLimits
  /** Extra response headers (e.g. `x-run-id`). */
  headers?: Record<string, string>
  /** Interval of `: ping` comments while the stream is open (keeps proxies and the socket idle timeout away). */
  keepAliveMs?: number
  /** The `retry:` reconnection hint sent first, in ms; `null` sends none. */
  retryMs?: number | null
  /** Written by `end()` before the response ends (e.g. `{ data: '[DONE]' }`), unless the client is gone. */
  terminal?: SseFrame
  /** Fields added to the log line of a client dropped for being too slow. */
  logFields?: Record<string, unknown>
}

export interface SseStream {
  /** Writes one frame; waits while the client is slow, and drops one that stalls. */
  send(frame: SseFrame): Promise<void>
  /** Aborted when the client goes away (or is dropped for being too slow). */
  signal: AbortSignal
  /** Ends the stream normally (writing the terminal frame, if any). */
  end(): void
  /** Ends the stream from the server side (the client's signal aborts too). */
  close(): void
}

/** The wire form of a frame: `id:`, `event:`, then `data:` lines, then a blank line. */
export function formatSseFrame(frame: SseFrame): string {
  const data = typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data)
  let out = ''
  if (frame.id !== undefined) out += `id: ${String(frame.id).replace(/[\r\n]/g, '')}\n`
  if (frame.event !== undefined) out += `event: ${frame.event.replace(/[\r\n]/g, '')}\n`
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`
  return `${out}\n`
}

/**
 * Takes over the response and opens a text/event-stream with keep-alive comments. Senders wait for a slow client
 * (backpressure); a client that stops reading is disconnected past `limits` (stream-guard.ts).
 */
export function openSse(request: FastifyRequest, reply: FastifyReply, options: SseOptions): SseStream {
  const { limits, headers = {}, keepAliveMs = SSE_KEEPALIVE_MS, retryMs = SSE_RETRY_MS, terminal, logFields = {} } = options
  const res = reply.raw
  const closed = new AbortController()
  const guard = createStreamGuard(limits, {
    buffered: () => res.writableLength,
    drop(reason, bufferedBytes) {
      request.log.warn({ reason, bufferedBytes, ...logFields }, 'SSE client too slow: disconnected')
      res.destroy()
    },
  })
  const write = (chunk: string) => guard.send((done) => res.write(chunk, done))
  reply.hijack()
  // The headers, the retry hint and whatever is sent in this tick (a new run's run.started) leave in one write.
  res.cork()
  process.nextTick(() => res.uncork())
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'referrer-policy': 'no-referrer',
    'x-request-id': String(request.id),
    ...headers,
  })
  if (retryMs !== null) write(`retry: ${retryMs}\n\n`)
  const keepalive = setInterval(() => write(': ping\n\n'), keepAliveMs)
  const onClose = () => {
    clearInterval(keepalive)
    guard.close()
    closed.abort()
  }
  res.on('close', onClose)
  return {
    signal: closed.signal,
    async send(frame) {
      if (closed.signal.aborted) return
      if (write(formatSseFrame(frame)) || guard.dropped) return
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done)
          res.off('close', done)
          resolve()
        }
        res.on('drain', done)
        res.on('close', done)
      })
    },
    close() {
      res.destroy()
    },
    end() {
      clearInterval(keepalive)
      if (terminal && !closed.signal.aborted && !guard.dropped) write(formatSseFrame(terminal))
      guard.close()
      res.off('close', onClose)
      if (!res.writableEnded) res.end()
    },
  }
}
