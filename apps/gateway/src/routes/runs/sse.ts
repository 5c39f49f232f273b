import type { RunEvent } from '@openvesper/core'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Bytes a slow SSE client may leave unread before it is disconnected. */
export const SSE_MAX_BUFFERED_BYTES = 8 * 1024 * 1024
export const SSE_KEEPALIVE_MS = 15_000
export const SSE_RETRY_MS = 3000

export interface SseSink {
  /** Writes one run event (`id:` = its sequence number); waits while the client is slow. */
  send(event: RunEvent): Promise<void>
  /** Aborted when the client goes away (or is dropped for being too slow). */
  signal: AbortSignal
  end(): void
  /** Ends the stream from the server side (the client's signal aborts too). */
  close(): void
}

/** Takes over the response and opens a text/event-stream with keep-alive comments. */
export function openSse(request: FastifyRequest, reply: FastifyReply, headers: Record<string, string> = {}): SseSink {
  const res = reply.raw
  const closed = new AbortController()
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
  res.write(`retry: ${SSE_RETRY_MS}\n\n`)
  const keepalive = setInterval(() => res.write(': ping\n\n'), SSE_KEEPALIVE_MS)
  const onClose = () => {
    clearInterval(keepalive)
    closed.abort()
  }
  res.on('close', onClose)
  return {
    signal: closed.signal,
    async send(e) {
      if (closed.signal.aborted) return
      const payload = JSON.stringify({ runId: e.runId, seq: e.seq, type: e.type, ...e.data, createdAt: e.createdAt })
      const ok = res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${payload}\n\n`)
      if (ok) return
      if (res.writableLength > SSE_MAX_BUFFERED_BYTES) {
        res.destroy()
        return
      }
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
      res.off('close', onClose)
      if (!res.writableEnded) res.end()
    },
  }
}

/** The resume cursor: `Last-Event-ID` header, else `?after=`, else 0. Invalid values are a 400 upstream of here. */
export function resumeCursor(headerValue: string | undefined, after: number | undefined): number {
  if (headerValue !== undefined && /^\d{1,9}$/.test(headerValue)) return Number(headerValue)
  return after ?? 0
}
