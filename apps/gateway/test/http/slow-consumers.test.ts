import { once } from 'node:events'
import { connect as tcpConnect, createServer, type Socket } from 'node:net'
import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createStreamGuard, type SlowConsumerReason } from '../../src/http/stream-guard.js'
import { bearer, buildTestApp, MODES, type TestApp, upstreamEnv } from '../support/helpers.js'
import { readSse } from '../support/sse-client.js'

const STALL_MS = 2000
/** Senders wait for a slow client: what the gateway holds for one stays near a socket's high-water mark plus a frame. */
const SLOW_CLIENT_HOLD = 256 * 1024
/** The default byte cap, for clients whose replies (not waiting for them) pile up. */
const CAP = 8 * 1024 * 1024
/** 1,500 chunks of 4 KiB: 6 MiB of text_delta, more than the kernel's socket buffers hold (some MB on loopback). */
const CHUNK = `${'x'.repeat(4095)} `
const TEXT = CHUNK.repeat(1500)

/** A raw HTTP/1.1 SSE request whose response is never read (the socket is paused before anything arrives). */
async function pausedSse(base: string, path: string, token: string): Promise<Socket> {
  const u = new URL(base)
  const socket = tcpConnect(Number(u.port), u.hostname)
  await once(socket, 'connect')
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${u.host}\r\nauthorization: Bearer ${token}\r\naccept: text/event-stream\r\n\r\n`)
  return socket
}

/** Reads what a paused socket still gets once it reads again, to its end. */
async function drain(socket: Socket): Promise<string> {
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => (text += c))
  socket.resume()
  if (!socket.readableEnded) await once(socket, 'close')
  return text
}

interface WsFollower {
  socket: WebSocket
  localPort: number
  texts: string[]
  methods: string[]
  closed: Promise<number>
}

async function wsFollow(url: string, token: string, runId: string): Promise<WsFollower> {
  const socket = new WebSocket(url, { headers: bearer(token) })
  let localPort = 0
  socket.once('upgrade', (res) => (localPort = res.socket.localPort ?? 0))
  const f: WsFollower = { socket, localPort: 0, texts: [], methods: [], closed: new Promise((resolve) => socket.once('close', (code) => resolve(code))) }
  socket.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { method?: string; params?: { text?: string } }
    if (!m.method) return
    f.methods.push(m.method)
    if (m.method === 'agent.text_delta') f.texts.push(m.params!.text!)
  })
  await once(socket, 'open')
  f.localPort = localPort
  socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'run.subscribe', params: { runId } }))
  return f
}

describe.each(MODES)('slow stream consumers (%s mode)', (mode) => {
  let t: TestApp
  let up: FakeUpstream
  let base: string
  /** Server-side sockets (and WebSockets) by the client's port, and the most bytes each ever had waiting in the gateway. */
  const serverSockets = new Map<number, Socket>()
  const serverWebSockets = new Map<number, WebSocket>()
  const peak = new Map<Socket, number>()
  let sampler: NodeJS.Timeout
  /** The run with 6 MiB of output, once the first test made it. */
  let bigRunId: string

  beforeAll(async () => {
    up = await startFakeUpstream()
    t = await buildTestApp({
      mode,
      env: upstreamEnv(up, { OPENVESPER_STREAM_STALL_MS: String(STALL_MS) }),
    })
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    t.app.server.on('connection', (s: Socket) => serverSockets.set(s.remotePort!, s))
    t.app.websocketServer.on('connection', (ws: WebSocket, req: { socket: Socket }) => serverWebSockets.set(req.socket.remotePort!, ws))
    sampler = setInterval(() => {
      for (const s of serverSockets.values()) if (!s.destroyed) peak.set(s, Math.max(peak.get(s) ?? 0, s.writableLength))
    }, 1)
  })
  afterAll(async () => {
    clearInterval(sampler)
    await t?.close()
    await up?.close()
  })

  it('drops SSE and WebSocket clients that stop reading, holding little for them meanwhile; the others and the run are unaffected (A13)', async () => {
    const auth = bearer(t.adminToken)
    // The reply starts after everyone is listening, then streams 6 MiB as fast as it can.
    up.enqueue({ text: TEXT, delayMs: 800 })
    const accepted = await t.app.inject({ method: 'POST', url: '/agent/async', headers: auth, payload: { message: 'a lot of output' } })
    expect(accepted.statusCode).toBe(202)
    const { runId } = accepted.json() as { runId: string }
    bigRunId = runId
    const eventsPath = `/agent/run/${runId}/events`
    const wsUrl = `${base.replace('http', 'ws')}/ws`

    const slowSse = await pausedSse(base, eventsPath, t.adminToken)
    const slowWsResumed = await wsFollow(wsUrl, t.adminToken, runId)
    slowWsResumed.socket.pause()
    const slowWsSilent = await wsFollow(wsUrl, t.adminToken, runId)
    slowWsSilent.socket.pause()
    // Resume one of the two as soon as the gateway has closed it (before the grace after which it destroys the socket).
    const resumedCode = (async () => {
      await waitFor(() => serverWebSockets.get(slowWsResumed.localPort)?.readyState === WebSocket.CLOSING, {
        timeoutMs: 30_000,
        intervalMs: 5,
        what: 'the gateway closing the slow WebSocket clients',
      })
      slowWsResumed.socket.resume()
      return slowWsResumed.closed
    })()
    const sseFollowers = Array.from({ length: 4 }, () => readSse(`${base}${eventsPath}`, { headers: auth }))
    const wsFollowers = await Promise.all(Array.from({ length: 2 }, () => wsFollow(wsUrl, t.adminToken, runId)))

    // Every client that reads gets the whole run, in order, to its terminal event.
    for (const r of await Promise.all(sseFollowers)) {
      expect(r.status).toBe(200)
      expect(
        r.events
          .filter((e) => e.event === 'agent.text_delta')
          .map((e) => e.data.text)
          .join(''),
      ).toBe(TEXT)
      expect(r.events.at(-1)!.event).toBe('run.completed')
    }
    for (const f of wsFollowers) {
      await waitFor(() => f.methods.includes('run.completed'), { timeoutMs: 30_000, what: 'run.completed over the WebSocket' })
      expect(f.texts.join('')).toBe(TEXT)
    }

    // The run completed with its whole output stored.
    const run = (await t.app.inject({ method: 'GET', url: `/agent/run/${runId}`, headers: auth })).json() as { status: string; output: string }
    expect(run.status).toBe('completed')
    expect(run.output).toBe(TEXT)

    // The slow clients were cut off STALL_MS after they stopped taking bytes, the gateway holding little for them.
    const sseServer = serverSockets.get(slowSse.localPort!)!
    const wsResumedServer = serverSockets.get(slowWsResumed.localPort)!
    const wsSilentServer = serverSockets.get(slowWsSilent.localPort)!
    await waitFor(() => sseServer.destroyed, { timeoutMs: 30_000, what: 'the slow SSE client disconnected' })
    // A WebSocket client that reads again gets what was already sent, then the close frame 1013…
    expect(await resumedCode).toBe(1013)
    expect(slowWsResumed.methods).not.toContain('run.completed')
    // …one that never reads is cut off after the close handshake's grace.
    await waitFor(() => wsSilentServer.destroyed, { timeoutMs: 30_000, what: 'the silent WebSocket client disconnected' })
    for (const s of [sseServer, wsResumedServer, wsSilentServer]) {
      expect(peak.get(s)).toBeGreaterThan(0)
      expect(peak.get(s)).toBeLessThanOrEqual(SLOW_CLIENT_HOLD)
    }
    // The cut SSE stream ends without its terminal event: the client resumes from the log with Last-Event-ID.
    const received = await drain(slowSse)
    expect(received).toContain('event: agent.text_delta')
    expect(received).not.toContain('event: run.completed')
    const lastId = [...received.matchAll(/^id: (\d+)\nevent: [^\n]+\ndata: [^\n]*\n\n/gm)].at(-1)![1]!
    const rest = await readSse(`${base}${eventsPath}`, { headers: { ...auth, 'last-event-id': lastId } })
    expect(rest.events[0]!.id).toBe(String(Number(lastId) + 1))
    expect(rest.events.at(-1)!.event).toBe('run.completed')
    slowWsSilent.socket.terminate()
    for (const f of wsFollowers) f.socket.close()
  }, 90_000)

  it('closes a WebSocket client whose unread replies pass the byte cap with 1013 (A13)', async () => {
    expect(bigRunId).toBeDefined()
    const wsUrl = `${base.replace('http', 'ws')}/ws`
    const c = new WebSocket(wsUrl, { headers: bearer(t.adminToken) })
    let localPort = 0
    c.once('upgrade', (res) => (localPort = res.socket.localPort ?? 0))
    const closed = new Promise<number>((resolve) => c.once('close', (code) => resolve(code)))
    await once(c, 'open')
    c.pause()
    const replies: unknown[] = []
    c.on('message', (d) => replies.push(JSON.parse(d.toString()).id))
    // Replies are not held back for a slow reader (the message rate limit bounds them): each carries the 6 MiB output,
    // 48 MiB in all, far more than the kernel's buffers take from a reader that never read.
    for (let id = 1; id <= 8; id++) c.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'run.get', params: { runId: bigRunId } }))
    const server = serverSockets.get(localPort)!
    await waitFor(() => serverWebSockets.get(localPort)?.readyState === WebSocket.CLOSING, {
      timeoutMs: 30_000,
      intervalMs: 5,
      what: 'the gateway closing the client',
    })
    // Checked before each write: at most one reply past the cap.
    expect(peak.get(server) ?? 0).toBeLessThanOrEqual(CAP + TEXT.length + 64 * 1024)
    c.resume()
    expect(await closed).toBe(1013)
    // The replies written before the cap was passed arrive; the rest were never sent.
    expect(replies.length).toBeGreaterThan(0)
    expect(replies.length).toBeLessThan(8)
  }, 60_000)
})

describe('stream guard', () => {
  const limits = { maxBufferedBytes: 1024 * 1024, stallMs: 300 }

  /** A real TCP connection whose reader never reads. */
  async function stalledPair() {
    const accepted: Socket[] = []
    const server = createServer((s) => {
      s.pause()
      accepted.push(s)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const socket = tcpConnect(port, '127.0.0.1')
    await once(socket, 'connect')
    const close = async () => {
      socket.destroy()
      for (const s of accepted) s.destroy()
      await new Promise((r) => server.close(r))
    }
    return { socket, close }
  }

  it('drops a client that takes nothing for stallMs while writes wait, under the byte cap', async () => {
    const { socket, close } = await stalledPair()
    const drops: [SlowConsumerReason, number][] = []
    const guard = createStreamGuard(limits, { buffered: () => socket.writableLength, drop: (reason, bytes) => drops.push([reason, bytes]) })
    const chunk = Buffer.alloc(16 * 1024)
    // Fill the kernel's buffers until bytes wait in the process, then stop writing (still far under the cap).
    while (socket.writableLength === 0) {
      guard.send((done) => socket.write(chunk, done))
      await new Promise((r) => setImmediate(r))
    }
    expect(socket.writableLength).toBeLessThan(limits.maxBufferedBytes)
    expect(drops).toEqual([])
    await waitFor(() => drops.length > 0, { timeoutMs: 5000, what: 'the stall drop' })
    expect(drops).toEqual([['stalled', socket.writableLength]])
    expect(guard.send(() => expect.unreachable('a dropped client gets no more writes'))).toBe(false)
    guard.close()
    await close()
  })

  it('drops a client past the byte cap before writing more, and keeps a client that reads', async () => {
    const { socket, close } = await stalledPair()
    const drops: SlowConsumerReason[] = []
    const guard = createStreamGuard({ ...limits, stallMs: 60_000 }, { buffered: () => socket.writableLength, drop: (reason) => drops.push(reason) })
    const chunk = Buffer.alloc(64 * 1024)
    let writes = 0
    while (!guard.dropped) if (guard.send((done) => socket.write(chunk, done))) writes++
    expect(drops).toEqual(['buffer_full'])
    expect(socket.writableLength).toBeGreaterThan(limits.maxBufferedBytes)
    expect(socket.writableLength).toBeLessThanOrEqual(limits.maxBufferedBytes + chunk.length)
    expect(writes).toBeGreaterThan(0)
    guard.close()
    await close()

    // A reader that keeps up is never dropped, however much goes through.
    const server = createServer((s) => s.resume())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const reader = tcpConnect((server.address() as { port: number }).port, '127.0.0.1')
    await once(reader, 'connect')
    const kept: SlowConsumerReason[] = []
    const ok = createStreamGuard({ maxBufferedBytes: 256 * 1024, stallMs: 300 }, { buffered: () => reader.writableLength, drop: (r) => kept.push(r) })
    for (let i = 0; i < 400; i++) {
      if (!ok.send((done) => reader.write(chunk, done))) await once(reader, 'drain')
      expect(ok.dropped).toBe(false)
    }
    await new Promise((r) => setTimeout(r, 400))
    expect(kept).toEqual([])
    ok.close()
    reader.destroy()
    await new Promise((r) => server.close(r))
  })
})
