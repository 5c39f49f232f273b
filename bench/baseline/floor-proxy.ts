/**
 * The floor of the pass-through scenario: the least a Node pass-through proxy can do. It forwards every request
 * to the upstream on a keep-alive undici pool and pipes the answer back as it arrives: no auth, no validation,
 * no logging, no accounting. Run in its own process; says `{ type: 'ready', url }` over IPC.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import { undici } from '../lib/deps.js'

const target = process.argv[2]
if (!target) throw new Error('usage: floor-proxy.ts <upstream base url>')
const agent = new undici.Agent({ keepAliveTimeout: 30_000, connections: 256 })

const server = createServer(async (req, res) => {
  const ctrl = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) ctrl.abort()
  })
  try {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const up = await undici.request(`${target}${req.url}`, {
      method: req.method,
      dispatcher: agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: Buffer.concat(chunks),
      signal: ctrl.signal,
    })
    const headers: Record<string, string> = {}
    const type = up.headers['content-type']
    if (typeof type === 'string') headers['content-type'] = type
    res.writeHead(up.statusCode, headers)
    await pipeline(up.body, res)
  } catch {
    if (!res.headersSent) res.writeHead(502)
    res.end()
  }
})
server.keepAliveTimeout = 30_000
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
})
process.on('message', (m: any) => {
  if (m?.type === 'close') server.close(() => process.send?.({ id: m.id, ok: true }))
})
process.on('disconnect', () => process.exit(0))
