import type { RunEvent } from '@openvesper/core'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { openSse } from '../../http/sse.js'
import type { StreamLimits } from '../../http/stream-guard.js'

export interface SseSink {
  /** Writes one run event (`id:` = its sequence number); waits while the client is slow, and drops one that stalls. */
  send(event: RunEvent): Promise<void>
  /** Aborted when the client goes away (or is dropped for being too slow). */
  signal: AbortSignal
  end(): void
  /** Ends the stream from the server side (the client's signal aborts too). */
  close(): void
}

/** A run's event stream: each event a frame with `id:` = its sequence number and `event:` = its type (http/sse.ts). */
export function openRunSse(request: FastifyRequest, reply: FastifyReply, limits: StreamLimits, runId: string): SseSink {
  const stream = openSse(request, reply, { limits, headers: { 'x-run-id': runId }, logFields: { runId } })
  return {
    signal: stream.signal,
    send: (e) => stream.send({ id: e.seq, event: e.type, data: { runId: e.runId, seq: e.seq, type: e.type, ...e.data, createdAt: e.createdAt } }),
    close: () => stream.close(),
    end: () => stream.end(),
  }
}

/** The resume cursor: `Last-Event-ID` header, else `?after=`, else 0. Invalid values are a 400 upstream of here. */
export function resumeCursor(headerValue: string | undefined, after: number | undefined): number {
  if (headerValue !== undefined && /^\d{1,9}$/.test(headerValue)) return Number(headerValue)
  return after ?? 0
}
