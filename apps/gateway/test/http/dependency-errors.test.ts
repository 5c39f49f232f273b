import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { toAppError } from '../../src/http/errors.js'
import { freePort } from '../support/process.js'

/**
 * A request that finds a backing service unreachable is a 503 `unavailable` that names no host (issue 15, A20/A38):
 * the errors here are the real drivers' errors against a port nothing listens on.
 */
describe('dependency errors', () => {
  it('maps a real postgres.js connection refusal to unavailable with a message naming no host', async () => {
    const port = await freePort()
    const sql = postgres(`postgres://postgres@127.0.0.1:${port}/none`, { max: 1, connect_timeout: 2, onnotice: () => {} })
    const raw = await sql`select 1`.then(
      () => undefined,
      (err: unknown) => err,
    )
    await sql.end({ timeout: 1 }).catch(() => {})
    expect(String((raw as Error).message)).toContain(String(port))
    const { error, unexpected } = toAppError(raw)
    expect(unexpected).toBe(false)
    expect(error.code).toBe('unavailable')
    expect(error.message).not.toMatch(/127\.0\.0\.1|ECONN|postgres/i)
    expect(error.message).not.toContain(String(port))
  }, 20_000)

  it('keeps an ordinary bug a 500 internal', () => {
    expect(toAppError(new TypeError('x is undefined')).error.code).toBe('internal')
    expect(toAppError(Object.assign(new Error('duplicate key'), { code: '23505' })).error.code).toBe('internal')
  })
})
