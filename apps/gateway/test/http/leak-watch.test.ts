import { createTestRedis } from '@openvesper/testing'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { createLeakWatch } from '../support/leak-watch.js'
import { bearer, buildTestApp } from '../support/helpers.js'

// The watch that makes every suite a secret canary scan (A26) must itself find what it is meant to find.
describe('leak watch (A26)', () => {
  const secret = 'sk-canary-0123456789abcdef'

  it('finds a secret in a log line raw, URL-encoded or base64, and any generated token', () => {
    for (const line of [
      `{"msg":"calling upstream","key":"${secret}"}\n`,
      `{"url":"/x?k=${encodeURIComponent(`${secret}/+`)}"}\n`,
      `{"auth":"Basic ${Buffer.from(secret).toString('base64')}"}\n`,
      `{"token":"ovk_${'A'.repeat(43)}"}\n`,
    ]) {
      const watch = createLeakWatch()
      watch.secret(secret)
      watch.secret(`${secret}/+`)
      watch.logStream.write(line)
      expect(() => watch.check()).toThrow(/secrets leaked \(A26\)/)
    }
    const clean = createLeakWatch()
    clean.secret(secret)
    clean.logStream.write('{"msg":"token …cdef revoked"}\n')
    expect(() => clean.check()).not.toThrow()
    // Of a URL only the password is secret: the rest may be logged (with the password removed).
    const urls = createLeakWatch()
    urls.secret('redis://127.0.0.1:6379')
    urls.secret('postgres://app:s3cret%2Fpassword@db:5432/ov')
    urls.logStream.write('{"redis":"redis://127.0.0.1:6379","db":"postgres://app@db:5432/ov"}\n')
    expect(() => urls.check()).not.toThrow()
    urls.logStream.write('{"err":"auth failed for s3cret/password"}\n')
    expect(() => urls.check()).toThrow(/secrets leaked/)
  })

  it('finds a secret in an answer over a socket (split across writes) or from inject, and shows only its last 4 characters', async () => {
    const app = Fastify()
    app.get('/split', (_req, reply) => {
      reply.hijack()
      reply.raw.write(`data: ${secret.slice(0, 10)}`)
      reply.raw.end(`${secret.slice(10)}\n`)
    })
    app.get('/plain', async () => ({ ok: true }))
    app.get('/json', async () => ({ key: secret }))
    const watch = createLeakWatch()
    watch.secret(secret)
    watch.watchResponses(app)
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      await (await fetch(`${base}/plain`)).text()
      expect(() => watch.check()).not.toThrow()
      await (await fetch(`${base}/split`)).text()
      expect(() => watch.check()).toThrow(/in response to GET \/split: .*\[secret …cdef\]/)
      expect(() => watch.check()).not.toThrow(new RegExp(secret))
      const injected = createLeakWatch()
      injected.secret(secret)
      injected.watchResponses(app)
      await app.inject({ method: 'GET', url: '/json' })
      expect(() => injected.check()).toThrow(/injected response to \/json/)
    } finally {
      await app.close()
    }
  })

  it('finds a secret or a generated token in Redis keys and values', async () => {
    const redis = await createTestRedis()
    const client = new Redis(redis.url)
    try {
      await client.hset(`${redis.prefix}:h`, 'field', `x${secret}x`)
      const watch = createLeakWatch()
      watch.secret(secret)
      await watch.scanRedis(redis)
      expect(() => watch.check()).toThrow(/in Redis hash/)
      await client.del(`${redis.prefix}:h`)
      await client.rpush(`${redis.prefix}:l`, `ovk_${'b'.repeat(43)}`)
      const tokens = createLeakWatch()
      await tokens.scanRedis(redis)
      expect(() => tokens.check()).toThrow(/generated token in Redis list/)
    } finally {
      client.disconnect()
      await redis.cleanup()
    }
  })

  it('is wired into every test app: a secret that reaches its log fails close()', async () => {
    const t = await buildTestApp()
    const token = await t.tokenWith(['runs:read'])
    // What a careless log call would do: the app's own logger, with the token in a field pino does not redact.
    t.app.log.info({ note: `using ${token}` }, 'oops')
    expect((await t.app.inject({ method: 'GET', url: '/health', headers: bearer(token) })).statusCode).toBe(200)
    await expect(t.close()).rejects.toThrow(/in log/)
  })
})
