import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { ENV } from '@openvesper/config'
import { waitFor } from '@openvesper/testing'
import type { TestContext } from 'vitest'
import { createLeakWatch } from './leak-watch.js'

/**
 * Process tests (`*.process.test.ts`): the BUILT gateway (`apps/gateway/dist/main.js`) started as real OS
 * processes, one per role, so tests can `kill -9` or SIGTERM them and assert on database state.
 */

export type ProcessRole = 'all' | 'api' | 'worker'

export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url))

/** Most output kept per process (the oldest part is dropped past this). */
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024

export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface GatewayProcess {
  readonly name: string
  readonly role: ProcessRole
  readonly pid: number
  /** The HTTP port (roles `all` and `api`); undefined for workers, which serve no HTTP. */
  readonly port: number | undefined
  /** `http://127.0.0.1:<port>` for roles with an HTTP listener. */
  readonly url: string | undefined
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>
  /** Set once the process has exited. */
  readonly exit: ProcessExit | undefined
  /** Everything it wrote to stdout and stderr so far, interleaved. */
  output(): string
  /** Its pino log lines (stdout lines that parse as JSON objects). */
  logs(): Record<string, unknown>[]
  /** Waits for a log line matching `match` (a message regex or a predicate) and returns it. */
  waitForLog(match: RegExp | ((line: Record<string, unknown>) => boolean), timeoutMs?: number): Promise<Record<string, unknown>>
  /** HTTP roles: GET /health answers 200. Workers: the "worker started" log line (info level or lower). */
  waitReady(timeoutMs?: number): Promise<void>
  /** The worker id this process leases runs under (from its start-up log line; needs log level info). */
  workerId(): string | undefined
  /** Sends a signal (no-op once it exited). */
  kill(signal?: NodeJS.Signals): void
  /** The values of its secret settings (tokens, API keys, database URL), which its output must never show (A26). */
  readonly secrets: string[]
}

export interface SpawnGatewayOptions {
  role: ProcessRole
  /** Environment of the process (on top of PATH/HOME and the defaults below). */
  env: Record<string, string | undefined>
  /** Label used in failure output; defaults to the role. */
  name?: string
  /** Working directory (defaults to the OS temp folder, so nothing lands in the repository). */
  cwd?: string
}

/** A TCP port that was free a moment ago (bind port 0, read it, close it). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => (port ? resolve(port) : reject(new Error('could not read the port of a probe server'))))
    })
  })
}

/** Throws a clear error when the gateway has not been built. */
export function assertBuilt(): void {
  if (!existsSync(MAIN_JS)) {
    throw new Error(`${MAIN_JS} does not exist: process tests start the built gateway. Run \`pnpm build\` (or \`pnpm exec turbo run build\`) first.`)
  }
}

/** Starts `node apps/gateway/dist/main.js --role=<role>`; HTTP roles get a free OPENVESPER_PORT unless one is given. */
export async function spawnGateway(options: SpawnGatewayOptions): Promise<GatewayProcess> {
  assertBuilt()
  const { role } = options
  const http = role !== 'worker'
  const port = http ? Number(options.env.OPENVESPER_PORT ?? (await freePort())) : undefined
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    OPENVESPER_HOST: '127.0.0.1',
    OPENVESPER_LOG_LEVEL: 'info',
    OPENVESPER_CONFIG: '/nonexistent/openvesper.config.json',
  }
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env[k] = v
  if (port !== undefined) env.OPENVESPER_PORT = String(port)
  const secrets = Object.entries(ENV).flatMap(([k, entry]) => (entry.secret && env[k] ? [env[k]] : []))

  const child: ChildProcess = spawn(process.execPath, [MAIN_JS, `--role=${role}`], {
    cwd: options.cwd ?? tmpdir(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`could not spawn ${MAIN_JS}`)
  const name = options.name ?? role
  let out = ''
  const logs: Record<string, unknown>[] = []
  let partial = ''
  let exit: ProcessExit | undefined
  const append = (text: string) => {
    out += text
    if (out.length > MAX_OUTPUT_CHARS) out = out.slice(out.length - MAX_OUTPUT_CHARS)
  }
  child.stdout!.setEncoding('utf8')
  child.stderr!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    append(chunk)
    partial += chunk
    const lines = partial.split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      if (!line.startsWith('{')) continue
      try {
        const parsed = JSON.parse(line) as unknown
        if (parsed && typeof parsed === 'object') logs.push(parsed as Record<string, unknown>)
      } catch {
        // not a log line
      }
    }
  })
  child.stderr!.on('data', (chunk: string) => append(chunk))
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal }
      resolve(exit)
    })
  })
  child.once('error', (err) => append(`\n[spawn error] ${err.message}\n`))

  const findLog = (match: RegExp | ((line: Record<string, unknown>) => boolean)) =>
    logs.find((l) => (typeof match === 'function' ? match(l) : typeof l.msg === 'string' && match.test(l.msg)))

  const proc: GatewayProcess = {
    secrets,
    name,
    role,
    pid: child.pid,
    port,
    url: port === undefined ? undefined : `http://127.0.0.1:${port}`,
    exited,
    get exit() {
      return exit
    },
    output: () => out,
    logs: () => logs,
    async waitForLog(match, timeoutMs = 60_000) {
      return waitFor(
        () => {
          if (exit) throw new Error(`${name} exited (${JSON.stringify(exit)}) before logging ${String(match)}`)
          return findLog(match)
        },
        { timeoutMs, intervalMs: 50, what: `${name} (pid ${child.pid}) to log ${String(match)}` },
      )
    },
    async waitReady(timeoutMs = 60_000) {
      if (proc.url) await waitForHealthy(proc.url, { timeoutMs, process: proc })
      else await proc.waitForLog(/worker started/, timeoutMs)
    },
    workerId() {
      const line = findLog((l) => typeof l.workerId === 'string' && typeof l.msg === 'string' && /worker started/.test(l.msg))
      return line?.workerId as string | undefined
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (exit || child.exitCode !== null || child.signalCode !== null) return
      try {
        process.kill(child.pid!, signal)
      } catch {
        // already gone
      }
    },
  }
  return proc
}

/** Polls GET `${url}/health` until it answers 200; fails early when `process` exits first. */
export async function waitForHealthy(url: string, { timeoutMs = 60_000, process: proc }: { timeoutMs?: number; process?: GatewayProcess } = {}): Promise<void> {
  await waitFor(
    async () => {
      if (proc?.exit) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exit)}) before becoming healthy`)
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
      return res?.status === 200
    },
    { timeoutMs, intervalMs: 100, what: `${proc?.name ?? url} to answer GET /health with 200` },
  )
}

/**
 * Every process a test file started: `stopAll()` in afterEach/afterAll SIGKILLs leftovers (and waits for them),
 * `dump()` prints each one's output (call it when a test failed).
 */
export function createProcessGroup(test?: TestContext) {
  const procs: GatewayProcess[] = []
  // With a test's context: its processes' output is printed when it fails.
  test?.onTestFailed(() => {
    console.error(`process output of "${test.task.name}":\n${group.dump()}`)
  })
  const group = {
    async spawn(options: SpawnGatewayOptions): Promise<GatewayProcess> {
      const p = await spawnGateway(options)
      procs.push(p)
      return p
    },
    list: () => [...procs],
    dump(): string {
      return procs.map((p) => `----- ${p.name} (role ${p.role}, pid ${p.pid}, exit ${JSON.stringify(p.exit ?? null)}) -----\n${p.output()}`).join('\n')
    },
    /** Stops every process, then fails when a secret appeared in any one's output (A26). */
    async stopAll(): Promise<void> {
      for (const p of procs) p.kill('SIGKILL')
      await Promise.all(procs.map((p) => p.exited))
      const leaks = createLeakWatch()
      for (const p of procs) {
        for (const secret of p.secrets) leaks.secret(secret)
        // Log lines must hold no generated token either; other output may (an embedded gateway without OPENVESPER_TOKEN
        // prints the admin token it generated, once, to the terminal).
        for (const line of p.output().split('\n')) leaks.scanText(line, `output of ${p.name}`, { tokens: line.startsWith('{"level"') })
      }
      procs.length = 0
      leaks.check()
    },
  }
  return group
}
export type ProcessGroup = ReturnType<typeof createProcessGroup>
