import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { TestRedis } from '@openvesper/testing'

/** A generated API token (`ovk_` + 32 random bytes in base64url): none may ever reach a log line or Redis. */
const GENERATED_TOKEN = /ovk_[A-Za-z0-9_-]{43}/
/** Characters kept from the end of one chunk of a response to find a secret split across two chunks. */
const CARRY = 256

interface Finding {
  where: string
  form: string
  context: string
}

/**
 * Checklist A26: a test gateway's secrets (its tokens, provider API keys, secret settings) must not appear in what it
 * logs, answers or keeps in Redis — raw, URL-encoded or base64. The watch sees every log line, every HTTP answer (over
 * sockets and `inject`) and, at the end, every Redis key and value under the gateway's prefix; `check()` throws on a
 * finding, naming where it was (the secret itself shortened to its last 4 characters).
 */
export function createLeakWatch({ echo = false }: { echo?: boolean } = {}) {
  const secrets = new Set<string>()
  const findings: Finding[] = []
  const forms = (secret: string): [string, string][] => [
    ['raw', secret],
    ['url-encoded', encodeURIComponent(secret)],
    ['base64', Buffer.from(secret).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(secret).toString('base64url')],
  ]

  function scan(text: string, where: string, { tokens = false } = {}): void {
    if (findings.length > 20) return
    for (const secret of secrets)
      for (const [form, value] of forms(secret)) {
        const at = text.indexOf(value)
        if (at >= 0) findings.push({ where, form, context: shortened(text, at, value.length, secret) })
      }
    const token = tokens ? GENERATED_TOKEN.exec(text) : null
    if (token) findings.push({ where, form: 'generated token', context: shortened(text, token.index, token[0].length, token[0]) })
  }

  return {
    /**
     * A value that must never be shown; of a URL (DATABASE_URL, REDIS_URL), its password, since the rest may be logged.
     * Values under 8 characters are not watched: they would match by chance.
     */
    secret(value: string | undefined): void {
      if (!value) return
      let secret = value
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
        try {
          secret = decodeURIComponent(new URL(value).password)
        } catch {
          // not a URL after all: watch the whole value
        }
      }
      if (secret.length >= 8) secrets.add(secret)
    },

    /** Scans any text; `tokens`: generated tokens count as leaks too. */
    scanText: scan,

    /** A pino destination: every line is scanned (for generated tokens too: no log line may hold one). */
    logStream: {
      write(line: string): void {
        scan(line, 'log', { tokens: true })
        if (echo) process.stdout.write(line)
      },
    },

    /**
     * Scans every answer of `app`: over its sockets (the server's `request` listener wraps `write`/`end` before Fastify's
     * runs) and from `inject`. Answers may carry a token legitimately (`POST /tokens` shows the new one once), so only
     * the known secrets are looked for.
     */
    watchResponses(app: FastifyInstance): void {
      const server = app.server as Server
      server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
        let carry = ''
        const look = (chunk: unknown) => {
          if (chunk === undefined || chunk === null || typeof chunk === 'function') return
          const text = carry + (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
          scan(text, `response to ${req.method} ${req.url?.split('?')[0]}`)
          carry = text.slice(-CARRY)
        }
        const write = res.write.bind(res) as (...args: unknown[]) => boolean
        const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse
        res.write = ((chunk: unknown, ...rest: unknown[]) => {
          look(chunk)
          return write(chunk, ...rest)
        }) as typeof res.write
        res.end = ((chunk?: unknown, ...rest: unknown[]) => {
          look(chunk)
          return end(chunk, ...rest)
        }) as typeof res.end
      })
      const inject = app.inject.bind(app) as (opts: unknown) => Promise<{ method?: string; body: string; headers: Record<string, unknown> }>
      ;(app as { inject: unknown }).inject = async (opts: unknown) => {
        const res = await inject(opts)
        const url = typeof opts === 'string' ? opts : (opts as { url?: string | { pathname?: string } }).url
        scan(`${JSON.stringify(res.headers)}\n${res.body}`, `injected response to ${typeof url === 'string' ? url.split('?')[0] : 'a request'}`)
        return res
      }
    },

    /** Every key and value under the test's Redis prefix. */
    async scanRedis(redis: TestRedis): Promise<void> {
      for (const { key, type, values } of await redis.entries()) {
        scan(key, 'Redis key', { tokens: true })
        for (const v of values) scan(v, `Redis ${type} ${key}`, { tokens: true })
      }
    },

    /** Throws when anything was found. */
    check(): void {
      if (findings.length === 0) return
      throw new Error(`secrets leaked (A26):\n${findings.map((f) => `  - ${f.form} in ${f.where}: …${f.context}…`).join('\n')}`)
    },
  }
}
export type LeakWatch = ReturnType<typeof createLeakWatch>

/** Up to 60 characters around a match, the match shown as its last 4 characters. */
function shortened(text: string, at: number, length: number, secret: string): string {
  const before = text.slice(Math.max(0, at - 30), at)
  const after = text.slice(at + length, at + length + 30)
  return `${before}[secret …${secret.slice(-4)}]${after}`.replace(/\s+/g, ' ')
}
