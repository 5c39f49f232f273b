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
