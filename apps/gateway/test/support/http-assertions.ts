import { connect } from 'node:net'
import type { LightMyRequestResponse as Response } from 'fastify'
import { expect } from 'vitest'

/** Asserts an RFC 9457 problem response that leaks nothing, and returns its body. */
export function expectProblem(res: Response, status: number, code?: string): Record<string, any> {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = res.json()
  expect(body.status).toBe(status)
  expect(body.type).toBe(`urn:openvesper:problem:${body.code}`)
  if (code) expect(body.code).toBe(code)
  expect(typeof body.requestId === 'string' && body.requestId.length > 0).toBe(true)
  expect(body.requestId).toBe(res.headers['x-request-id'])
  expectNoLeak(res.body)
  return body
}

/** No stack frames, file paths, SQL or driver names in a response body. */
export function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/"stack"|\bat [\w.<>]+ \(|node_modules|\/work\/|file:\/\/|\.ts:\d+|\bselect\b.+\bfrom\b|\binsert into\b|postgres|pglite|drizzle/i)
}

/** Sends raw bytes over one TCP connection and returns the status code of the first response. */
export function rawStatus(port: number, request: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')))
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1')
      const match = /^HTTP\/1\.1 (\d{3})/.exec(data)
      if (match) {
        resolve(Number(match[1]))
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`connection closed without a response: ${JSON.stringify(data.slice(0, 200))}`)))
    socket.write(request)
  })
}
