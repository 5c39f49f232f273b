import WebSocket from 'ws'

/** The HTTP status of a WebSocket upgrade (101 when it was accepted), optionally with an Origin. */
export function upgradeStatus(url: string, options: { origin?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: options.headers, ...(options.origin === undefined ? {} : { origin: options.origin }) })
    socket.once('open', () => {
      socket.close()
      resolve(101)
    })
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      socket.terminate()
    })
    socket.once('error', (err) => reject(err))
  })
}

export interface RpcMessage {
  jsonrpc: '2.0'
  id?: number | string | null
  method?: string
  params?: Record<string, unknown>
  result?: Record<string, unknown>
  error?: { code: number; message: string; data?: Record<string, unknown> }
}

/** A JSON-RPC client over a real WebSocket that records every message it receives. */
export async function connectRpc(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, { headers })
  const messages: RpcMessage[] = []
  socket.on('message', (d) => messages.push(JSON.parse(d.toString())))
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
  })
  let nextId = 1
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  )
  return {
    socket,
    messages,
    closed,
    /** Sends one call and waits for its reply (up to `timeoutMs`). */
    async call(method: string, params?: unknown, timeoutMs = 10_000): Promise<RpcMessage> {
      const id = nextId++
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
      const started = Date.now()
      for (;;) {
        const reply = messages.find((m) => m.id === id)
        if (reply) return reply
        if (socket.readyState !== WebSocket.OPEN) throw new Error(`socket closed before the reply to ${method}`)
        if (Date.now() - started > timeoutMs) throw new Error(`no reply to ${method} within ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    notifications: (runId: string) => messages.filter((m) => m.method && m.params?.runId === runId),
    close: () => socket.close(),
  }
}
