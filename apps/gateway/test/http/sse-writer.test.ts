import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { connect as tcpConnect, type Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatSseFrame, openSse, type SseStream } from '../../src/http/sse.js'

const LIMITS = { maxBufferedBytes: 64 * 1024 * 1024, stallMs: 500 }

/** A real Fastify server with routes that use http/sse.ts directly. */
describe('http/sse.ts: the SSE writer', () => {
  let app: FastifyInstance
  let port: number
  const streams: SseStream[] = []
  const dropped: Array<{ reason: string }> = []
  let floodDone: Promise<void> | undefined

  beforeAll(async () => {
    app = Fastify({ logger: false })
    app.get('/frames', async (request, reply) => {
      const sse = openSse(request, reply, { limits: LIMITS, terminal: { data: '[DONE]' }, retryMs: null })
      await sse.send({ data: { choices: [{ delta: { content: 'hi' } }] } })
      await sse.send({ event: 'message_start', data: { type: 'message_start' } })
      await sse.send({ id: 7, event: 'run.completed', data: 'two\nlines' })
      sse.end()
    })
    app.get('/idle', async (request, reply) => {
      const sse = openSse(request, reply, { limits: LIMITS, keepAliveMs: 50 })
      streams.push(sse)
    })
    app.get('/flood', async (request, reply) => {
      const sse = openSse(request, reply, { limits: LIMITS, logFields: { test: true } })
      request.log.warn = ((obj: { reason: string }) => dropped.push(obj)) as typeof request.log.warn
      const chunk = 'x'.repeat(64 * 1024)
      floodDone = (async () => {
        // Far more than the socket buffers hold: the client never reads, so the guard must drop it.
        for (let i = 0; i < 2000 && !sse.signal.aborted; i++) await sse.send({ data: chunk })
      })()
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as AddressInfo).port
  })

  afterAll(async () => {
    for (const s of streams) s.close()
    await app?.close()
  })

  it('formats frames with and without id and event', () => {
    expect(formatSseFrame({ data: 'x' })).toBe('data: x\n\n')
    expect(formatSseFrame({ id: 3, event: 'e', data: { a: 1 } })).toBe('id: 3\nevent: e\ndata: {"a":1}\n\n')
    expect(formatSseFrame({ data: 'a\nb' })).toBe('data: a\ndata: b\n\n')
  })

  it('writes data-only, named and identified frames, then the terminal frame', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/frames`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform')
    const body = await res.text()
    expect(body).toBe(
      'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n' +
        'event: message_start\ndata: {"type":"message_start"}\n\n' +
        'id: 7\nevent: run.completed\ndata: two\ndata: lines\n\n' +
        'data: [DONE]\n\n',
    )
  })

  it('sends the retry hint and keep-alive comments while idle', async () => {
    const ctrl = new AbortController()
    const res = await fetch(`http://127.0.0.1:${port}/idle`, { signal: ctrl.signal })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    const deadline = Date.now() + 5000
    while ((text.match(/: ping\n\n/g)?.length ?? 0) < 2 && Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    ctrl.abort()
    expect(text.startsWith('retry: 3000\n\n')).toBe(true)
    expect(text.match(/: ping\n\n/g)?.length ?? 0).toBeGreaterThanOrEqual(2)
  })

  it('drops a client that never reads (stall guard)', async () => {
    const socket: Socket = tcpConnect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.pause()
    socket.write(`GET /flood HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n\r\n`)
    const closed = once(socket, 'close')
    const started = Date.now()
    await expect.poll(() => dropped.length, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0)
    expect(dropped[0]!.reason).toBe('stalled')
    expect(Date.now() - started).toBeGreaterThanOrEqual(LIMITS.stallMs)
    await floodDone
    socket.resume()
    await closed
  })
})
