import type { RunEvent } from '@openvesper/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { createStreamGuard, type StreamLimits } from '../../http/stream-guard.js'

export const SSE_KEEPALIVE_MS = 15_000
export const SSE_RETRY_MS = 3000

export interface SseSink {
  /** Writes one run event (`id:` = its sequence number); waits while the client is slow, and drops one that stalls. */
  send(event: RunEvent): Promise<void>
  /** Aborted when the client goes away (or is dropped for being too slow). */
  signal: AbortSignal
  end(): void
  /** Ends the stream from the server side (the client's signal aborts too). */
  close(): void
}

/**
 * Takes over the response and opens a text/event-stream with keep-alive comments. A client that stops reading is
 * disconnected past `limits` (it resumes with Last-Event-ID).
 */
export function openSse(request: FastifyRequest, reply: FastifyReply, limits: StreamLimits, headers: Record<string, string> = {}): SseSink {
  const res = reply.raw
  const closed = new AbortController()
  const guard = createStreamGuard(limits, {
    buffered: () => res.writableLength,
    drop(reason, bufferedBytes) {
      request.log.warn({ reason, bufferedBytes, runId: headers['x-run-id'] }, 'SSE client too slow: disconnected')
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
  write(`retry: ${SSE_RETRY_MS}\n\n`)
  const keepalive = setInterval(() => write(': ping\n\n'), SSE_KEEPALIVE_MS)
  const onClose = () => {
    clearInterval(keepalive)
    guard.close()
    closed.abort()
  }
  res.on('close', onClose)
  return {
    signal: closed.signal,
    async send(e) {
      if (closed.signal.aborted) return
      const payload = JSON.stringify({ runId: e.runId, seq: e.seq, type: e.type, ...e.data, createdAt: e.createdAt })
      if (write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${payload}\n\n`) || guard.dropped) return
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
      guard.close()
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
