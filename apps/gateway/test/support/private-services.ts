import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@openvesper/testing'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { freePort } from './process.js'

/**
 * A PRIVATE Postgres and a PRIVATE Redis for tests that stop, restart or exhaust them (issue 15, A38/A39): each on a
 * free port in its own temp folder, never the machine's shared services.
 */

const PG_BIN = '/usr/lib/postgresql/15/bin'
/** initdb and postgres refuse to run as root: as root, they run as the postgres user. */
const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]

export interface PrivatePostgres {
  port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string
  start(): Promise<void>
  /** pg_ctl stop -m immediate (connections dropped at once, as in a crash). */
  stop(): Promise<void>
  restart(): Promise<void>
  destroy(): Promise<void>
}

export async function startPrivatePostgres(options: { maxConnections?: number } = {}): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'ov-private-pg-'))
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    chownSync(dir, uid, gid)
  }
  const data = join(dir, 'data')
  const port = await freePort()
  const [initCmd, initArgs] = asPostgres(`${PG_BIN}/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'])
  execFileSync(initCmd, initArgs, { stdio: 'ignore' })
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=${options.maxConnections ?? 40}`
  const ctl = (args: string[]) => {
    const [cmd, a] = asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, ...args])
    execFileSync(cmd, a, { stdio: 'ignore' })
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const ready = async () => {
    await waitFor(
      async () => {
        const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
        try {
          await sql`select 1`
          return true
        } catch {
          return false
        } finally {
          await sql.end({ timeout: 1 }).catch(() => {})
        }
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the private Postgres to accept connections' },
    )
  }
  const pg: PrivatePostgres = {
    port,
    url,
    async start() {
      ctl(['-o', opts, '-l', join(dir, 'log'), '-w', 'start'])
      await ready()
    },
    async stop() {
      ctl(['-m', 'immediate', '-w', 'stop'])
    },
    async restart() {
      await pg.stop()
      await pg.start()
    },
    async destroy() {
      try {
        ctl(['-m', 'immediate', '-w', 'stop'])
      } catch {
        // not running
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await pg.start()
  return pg
}

/** The Redis server binary (a system package, not an npm dependency). */
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server'

export interface PrivateRedis {
  port: number
  url: string
  start(): Promise<void>
  /** SIGKILL: no shutdown save; the append-only file keeps what was acknowledged. */
  kill(): Promise<void>
  restart(): Promise<void>
  destroy(): Promise<void>
}

export async function startPrivateRedis(options: { maxmemoryPolicy?: string } = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ov-private-redis-'))
  const port = await freePort()
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const r: PrivateRedis = {
    port,
    url,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
      if (options.maxmemoryPolicy) args.push('--maxmemory', '256mb', '--maxmemory-policy', options.maxmemoryPolicy)
      child = spawn(REDIS_SERVER, args, { stdio: 'ignore' })
      await waitFor(
        async () => {
          const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
          c.on('error', () => {})
          try {
            await c.connect()
            return (await c.ping()) === 'PONG'
          } catch {
            return false
          } finally {
            c.disconnect()
          }
        },
        { timeoutMs: 15_000, intervalMs: 50, what: 'the private Redis to answer PING' },
      )
    },
    async kill() {
      const c = child
      child = undefined
      if (!c || c.exitCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGKILL')
      await exited
    },
    async restart() {
      await r.kill()
      await r.start()
    },
    async destroy() {
      await r.kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await r.start()
  return r
}
