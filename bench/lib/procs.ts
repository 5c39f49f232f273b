/** Child processes of the bench: the built gateway (any role), the fake upstream, the raw BullMQ worker. */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const GATEWAY_MAIN = join(ROOT, 'apps/gateway/dist/main.js')

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

/** Environment for a child: the parent's, without any OpenVesper setting that could leak into the bench. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (/^(OPENVESPER_|DATABASE_URL$|REDIS_URL$|OPENAI_|ANTHROPIC_|NODE_OPTIONS$)/.test(k)) continue
    env[k] = v
  }
  return env
}

export interface GatewayProcess {
  role: 'all' | 'api' | 'worker'
  pid: number
  /** `http://127.0.0.1:PORT` (roles all and api). */
  url?: string
  logFile: string
  child: ChildProcess
  /** ms from spawn until /health answered 200 (or the worker logged that it started). */
  readyMs: number
  /** SIGTERM, wait for the exit (the CPU profile, if any, is written then). */
  stop(): Promise<void>
}

export interface SpawnGatewayOptions {
  role: 'all' | 'api' | 'worker'
  env: Record<string, string>
  logFile: string
  /** Write a V8 CPU profile to this directory on exit (`node --cpu-prof`). */
  cpuProfDir?: string
  profName?: string
  timeoutMs?: number
}

/** Spawns `node apps/gateway/dist/main.js --role=<role>` and waits until it serves /health (or, for a worker, until it logged its start). */
export async function spawnGateway(options: SpawnGatewayOptions): Promise<GatewayProcess> {
  const { role, logFile } = options
  if (!existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} is missing: build first (pnpm exec turbo run build)`)
  const port = role === 'worker' ? 0 : await freePort()
  const env: Record<string, string> = { ...baseEnv(), OPENVESPER_HOST: '127.0.0.1', OPENVESPER_PORT: String(port), ...options.env }
  const args: string[] = []
  if (options.cpuProfDir)
    args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`, `--cpu-prof-name=${options.profName ?? role}-${Date.now()}.cpuprofile`)
  args.push(GATEWAY_MAIN, `--role=${role}`)
  const fd = openSync(logFile, 'a')
  const started = performance.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      resolve()
    })
  })
  const url = role === 'worker' ? undefined : `http://127.0.0.1:${port}`
  const deadline = started + (options.timeoutMs ?? 30_000)
  let readyMs = -1
  for (;;) {
    if (exited) throw new Error(`gateway (${role}) exited during start (code ${exited.code}, signal ${exited.signal}); log: ${logFile}\n${tail(logFile)}`)
    if (performance.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`gateway (${role}) not ready within ${options.timeoutMs ?? 30_000} ms; log: ${logFile}\n${tail(logFile)}`)
    }
    if (url) {
      const ok = await fetch(`${url}/health`).then(
        (r) => r.status === 200,
        () => false,
      )
      if (ok) {
        readyMs = performance.now() - started
        break
      }
      await sleep(5)
    } else {
      if (readFileSync(logFile, 'utf8').includes('OpenVesper worker started')) {
        readyMs = performance.now() - started
        break
      }
      await sleep(10)
    }
  }
  return {
    role,
    pid: child.pid!,
    url,
    logFile,
    child,
    readyMs,
    async stop() {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      await exitPromise
      clearTimeout(timer)
    },
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/** An IPC-controlled child (tsx-run TypeScript: `fork` inherits tsx's loader flags from this process). */
export interface IpcChild {
  child: ChildProcess
  ready: Record<string, unknown>
  call<T = unknown>(message: Record<string, unknown>): Promise<T>
  stop(): Promise<void>
}

export async function forkIpc(modulePath: string, args: string[] = [], env: Record<string, string> = {}, execArgv?: string[]): Promise<IpcChild> {
  const child = fork(modulePath, args, {
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(execArgv ? { execArgv: [...process.execArgv, ...execArgv] } : {}),
  })
  let nextId = 1
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>()
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const onMessage = (m: any) => {
      if (m?.type === 'ready') {
        child.off('message', onMessage)
        resolve(m)
      }
    }
    child.on('message', onMessage)
    child.once('exit', (code) => reject(new Error(`${modulePath} exited during start (code ${code})`)))
  })
  child.on('message', (m: any) => {
    const p = m && typeof m.id === 'number' ? pending.get(m.id) : undefined
    if (!p) return
    pending.delete(m.id)
    if (m.ok) p.resolve(m.value)
    else p.reject(new Error(String(m.error)))
  })
  child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`${modulePath} exited`))
    pending.clear()
  })
  const call = <T = unknown>(message: Record<string, unknown>): Promise<T> => {
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      child.send({ ...message, id })
    })
  }
  return {
    child,
    ready,
    call,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      try {
        await Promise.race([call({ type: 'close' }), sleep(3000)])
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; 10 ms resolution at 100 Hz). */
/** CPU time of a process so far, in ms: user + kernel, or the kernel part only (`sys`: syscalls, network stack). */
export function cpuMs(pid: number, part: 'all' | 'sys' = 'all'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
    const ticks = part === 'sys' ? Number(fields[12]) : Number(fields[11]) + Number(fields[12])
    return (ticks * 1000) / CLK_TCK
  } catch {
    return NaN
  }
}
const CLK_TCK = 100
