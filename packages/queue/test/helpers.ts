import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Logger } from '@openvesper/shared'

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  obj: Record<string, unknown>
}

/** A Logger that records what it is given. */
export function captureLog(): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: LogEntry['level']) =>
      (objOrMsg: object | string, msg?: string): void => {
        if (typeof objOrMsg === 'string') entries.push({ level, msg: objOrMsg, obj: { ...bindings } })
        else entries.push({ level, msg: msg ?? '', obj: { ...bindings, ...(objOrMsg as Record<string, unknown>) } })
      }
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => make({ ...bindings, ...more }) }
  }
  return { log: make({}), entries }
}

export interface Deferred {
  promise: Promise<void>
  resolve(): void
}

export function deferred(): Deferred {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Resolves when `signal` aborts. */
export const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })

export interface TcpProxy {
  /** A Redis URL that reaches the target through the proxy. */
  url: string
  /** Simulates an outage: closes every proxied connection and refuses new ones. */
  stop(): Promise<void>
  /** Ends the outage: accepts connections again on the same port. */
  resume(): Promise<void>
  close(): Promise<void>
}

/** A TCP proxy in front of Redis, to cut and restore the connection of one client under test. */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl)
  const targetPort = Number(target.port || 6379)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, target.hostname)
        sockets.add(client)
        sockets.add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => {
        const address = s.address()
        if (address && typeof address === 'object') port = address.port
        server = s
        resolve()
      })
    })

  const stop = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    sockets.clear()
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  await listen()
  return { url: `redis://127.0.0.1:${port}`, stop, resume: listen, close: stop }
}
