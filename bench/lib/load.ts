/** Load generators: autocannon (request/response), a sequential SSE timer, and an async-run submitter. */
import { randomBytes } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { connect as netConnect } from 'node:net'
import { createRequire } from 'node:module'
import { sleep } from './procs.js'
import { summarize, type Summary } from './stats.js'

const require = createRequire(import.meta.url)
// autocannon v9 is a root devDependency (CommonJS).
const autocannon = require('autocannon') as any

export interface CannonResult {
  requests: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  durationS: number
  /** Completed 2xx requests per second. */
  rps: number
  /** Fractional milliseconds, from autocannon's per-response timings (its histogram keeps whole ms only). */
  latency: Summary
  /** Every 2xx response's latency (ms), to pool several runs. */
  samples: number[]
  statusCodes: Record<string, number>
}

/** Several runs of one load as one: counts and durations added, latencies pooled. */
export function poolCannon(results: CannonResult[]): CannonResult {
  const samples = results.flatMap((r) => r.samples)
  const sum = (k: 'requests' | 'ok' | 'non2xx' | 'errors' | 'timeouts' | 'durationS') => results.reduce((a, r) => a + r[k], 0)
  const statusCodes: Record<string, number> = {}
  for (const r of results) for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n
  const durationS = sum('durationS')
  return {
    requests: sum('requests'),
    ok: sum('ok'),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
    durationS,
    rps: sum('ok') / durationS,
    latency: summarize(samples),
    samples,
    statusCodes,
  }
}

export interface CannonOptions {
  url: string
  method?: 'POST' | 'GET'
  headers?: Record<string, string>
  /** Body of each request; `context` lives for one pass over `turns` requests on one connection. */
  body: (context: Record<string, any>) => string
  /** Requests per pass: a connection sends `turns` requests with one context (e.g. one session), then starts a new one. */
  turns?: number
  connections: number
  durationS: number
  timeoutS?: number
}

/** autocannon with per-response fractional latencies collected from its `response` events. */
export function runCannon(o: CannonOptions): Promise<CannonResult> {
  const latencies: number[] = []
  const statusCodes: Record<string, number> = {}
  const u = new URL(o.url)
  const req = {
    method: o.method ?? 'POST',
    path: u.pathname + u.search,
    headers: { 'content-type': 'application/json', ...o.headers },
    setupRequest: (r: any, context: Record<string, any>) => ({ ...r, body: o.body(context) }),
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${u.protocol}//${u.host}`,
        connections: o.connections,
        duration: o.durationS,
        timeout: o.timeoutS ?? 10,
        requests: Array.from({ length: o.turns ?? 1 }, () => req),
      },
      (err: Error | null, result: any) => {
        if (err) return reject(err)
        const ok = latencies.length
        const durationS = (result.duration ?? o.durationS) as number
        resolve({
          requests: result.requests.total,
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          durationS,
          rps: ok / durationS,
          latency: summarize(latencies),
          samples: latencies,
          statusCodes,
        })
      },
    )
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
    })
  })
}

export interface StreamTiming {
  /** ms from sending the request to the first SSE event (gateway: first `event:`; upstream: first `data:`). */
  firstEvent: number
  /** ms to the first text content (gateway: `agent.text_delta`; upstream: first non-empty content delta). */
  firstText: number
  /** ms to the end of the response. */
  total: number
}

/**
 * Sends `count` streaming requests one after another on one kept-alive connection and times, from the moment
 * the request is written, the first event and the first text (checked on every received chunk).
 */
export interface StreamTimings {
  firstEvent: Summary
  firstText: Summary
  total: Summary
  count: number
  failures: number
  /** The timings behind the summaries (ms), to pool several runs. */
  samples: { first: number[]; text: number[]; total: number[] }
}

/** Several runs of timeStreams as one. */
export function poolStreams(results: StreamTimings[]): StreamTimings {
  const samples = {
    first: results.flatMap((r) => r.samples.first),
    text: results.flatMap((r) => r.samples.text),
    total: results.flatMap((r) => r.samples.total),
  }
  return {
    firstEvent: summarize(samples.first),
    firstText: summarize(samples.text),
    total: summarize(samples.total),
    count: samples.first.length,
    failures: results.reduce((a, r) => a + r.failures, 0),
    samples,
  }
}

export async function timeStreams(o: {
  url: string
  headers?: Record<string, string>
  body: (i: number) => string
  count: number
  maxDurationMs: number
  kind: 'gateway' | 'upstream'
}): Promise<StreamTimings> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const u = new URL(o.url)
  const first: number[] = []
  const text: number[] = []
  const total: number[] = []
  let failures = 0
  const eventRe = o.kind === 'gateway' ? /(^|\n)event: / : /(^|\n)data: /
  const textRe = o.kind === 'gateway' ? /(^|\n)event: agent\.text_delta\n/ : /"delta":\{"content":"[^"]/
  const deadline = performance.now() + o.maxDurationMs
  try {
    for (let i = 0; i < o.count && performance.now() < deadline; i++) {
      const body = o.body(i)
      const t = await new Promise<StreamTiming | undefined>((resolve) => {
        let seen = ''
        let tFirst = -1
        let tText = -1
        const t0 = performance.now()
        const req = httpRequest(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(body), ...o.headers },
          },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume()
              res.on('end', () => resolve(undefined))
              return
            }
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              const now = performance.now()
              if (tFirst >= 0 && tText >= 0) return
              seen += chunk
              if (tFirst < 0 && eventRe.test(seen)) tFirst = now - t0
              if (tText < 0 && textRe.test(seen)) tText = now - t0
            })
            res.on('end', () => resolve(tFirst >= 0 && tText >= 0 ? { firstEvent: tFirst, firstText: tText, total: performance.now() - t0 } : undefined))
            res.on('error', () => resolve(undefined))
          },
        )
        req.on('error', () => resolve(undefined))
        req.end(body)
      })
      if (t) {
        first.push(t.firstEvent)
        text.push(t.firstText)
        total.push(t.total)
      } else failures++
    }
  } finally {
    agent.destroy()
  }
  return { firstEvent: summarize(first), firstText: summarize(text), total: summarize(total), count: first.length, failures, samples: { first, text, total } }
}

export interface AsyncRunsResult {
  submitted: number
  accepted: number
  rejected: number
  /** Runs that reached a terminal status, and how many of those are not `completed`. */
  terminal: number
  notCompleted: number
  /** Wall time of the submission phase (ms) and the accept rate it gives. */
  submitMs: number
  acceptRps: number
  /** Server timestamps: first acceptance (createdAt) to last finish (finishedAt). */
  spanMs: number
  /** accepted runs / span: end-to-end throughput. */
  runsPerS: number
  /** Per-run finishedAt − createdAt. */
  latency: Summary
}

/**
 * Submits `count` runs with `POST /agent/async` over `concurrency` kept-alive connections (or until
 * `maxSubmitMs`), then waits for every one to be terminal. Completion is read back through the API (the same
 * way in both modes): the last-submitted run is polled while work is in flight, then every run is fetched once
 * (after the fact, so the sweep does not load the measured window: times are the server's createdAt/finishedAt).
 */
export async function runAsyncBatch(o: {
  baseUrl: string
  token: string
  count: number
  concurrency: number
  maxSubmitMs: number
  maxWaitMs: number
  message?: string
  /** Called when the last-submitted run is terminal, before the sweep that reads every run back (e.g. to stop a CPU meter). */
  onLastDone?: () => Promise<void>
}): Promise<AsyncRunsResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency })
  const auth = { authorization: `Bearer ${o.token}` }
  const ids: (string | undefined)[] = []
  let rejected = 0
  let next = 0
  const t0 = performance.now()
  const deadline = t0 + o.maxSubmitMs
  const tag = randomBytes(3).toString('hex')
  try {
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.count && performance.now() < deadline) {
          const i = next++
          const body = JSON.stringify({ message: o.message ?? `async run ${tag} ${i}` })
          const res = await send(agent, o.baseUrl, 'POST', '/agent/async', auth, body)
          if (res.status === 202) ids[i] = (JSON.parse(res.body) as { runId: string }).runId
          else rejected++
        }
      }),
    )
    const submitMs = performance.now() - t0
    const accepted = ids.filter((x): x is string => typeof x === 'string')
    const waitDeadline = performance.now() + o.maxWaitMs
    const last = accepted.at(-1)
    // While runs are in flight: one cheap poll every 100 ms (the last-submitted run is among the last to finish).
    if (last) {
      while (performance.now() < waitDeadline) {
        const r = await getRun(agent, o.baseUrl, auth, last)
        if (r && isTerminal(r.status)) break
        await sleep(100)
      }
    }
    await o.onLastDone?.()
    // Then every run, once (retrying the few that are still running).
    const rows = new Map<string, RunView>()
    let pending = [...accepted]
    while (pending.length && performance.now() < waitDeadline) {
      const stillRunning: string[] = []
      let k = 0
      await Promise.all(
        Array.from({ length: Math.min(8, o.concurrency) }, async () => {
          while (k < pending.length) {
            const id = pending[k++]!
            const r = await getRun(agent, o.baseUrl, auth, id)
            if (r && isTerminal(r.status)) rows.set(id, r)
            else stillRunning.push(id)
          }
        }),
      )
      pending = stillRunning
      if (pending.length) await sleep(100)
    }
    const done = [...rows.values()]
    const created = done.map((r) => Date.parse(r.createdAt))
    const finished = done.map((r) => Date.parse(r.finishedAt ?? r.createdAt))
    const spanMs = done.length ? Math.max(...finished) - Math.min(...created) : NaN
    return {
      submitted: next,
      accepted: accepted.length,
      rejected,
      terminal: done.length,
      notCompleted: done.filter((r) => r.status !== 'completed').length + (accepted.length - done.length),
      submitMs,
      acceptRps: accepted.length / (submitMs / 1000),
      spanMs,
      runsPerS: done.length / (spanMs / 1000),
      latency: summarize(done.map((_r, i) => finished[i]! - created[i]!)),
    }
  } finally {
    agent.destroy()
  }
}

export interface RunView {
  runId: string
  status: string
  createdAt: string
  finishedAt: string | null
}

export const isTerminal = (s: string) => s === 'completed' || s === 'failed' || s === 'cancelled'

/** `GET /agent/run/:id`; undefined unless 200. */
export async function getRun(agent: Agent, baseUrl: string, headers: Record<string, string>, id: string): Promise<RunView | undefined> {
  const res = await send(agent, baseUrl, 'GET', `/agent/run/${id}`, headers)
  return res.status === 200 ? (JSON.parse(res.body) as RunView) : undefined
}

export function send(
  agent: Agent,
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const u = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path,
        method,
        agent,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        let data = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (data += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * `count` SSE readers of one run (`GET /agent/run/:id/events`), each on its own connection, reading to the terminal
 * event. Returns every event's delivery latency: the time it was read here minus its `createdAt` (stored by the
 * gateway on the same machine, so one clock), in ms, plus the readers that did not end on a terminal event.
 */
export async function followRun(o: {
  baseUrl: string
  token: string
  runId: string
  count: number
  timeoutMs: number
}): Promise<{ latencies: number[]; incomplete: number }> {
  const u = new URL(o.baseUrl)
  const latencies: number[] = []
  let incomplete = 0
  await Promise.all(
    Array.from(
      { length: o.count },
      () =>
        new Promise<void>((resolve) => {
          let ended = false
          const req = httpRequest(
            {
              host: u.hostname,
              port: u.port,
              path: `/agent/run/${o.runId}/events`,
              headers: { authorization: `Bearer ${o.token}`, accept: 'text/event-stream' },
              agent: false,
            },
            (res) => {
              let buf = ''
              res.setEncoding('utf8')
              res.on('data', (chunk: string) => {
                const now = Date.now()
                buf += chunk
                let end: number
                while ((end = buf.indexOf('\n\n')) >= 0) {
                  const frame = buf.slice(0, end)
                  buf = buf.slice(end + 2)
                  const data = /(?:^|\n)data: (.*)/.exec(frame)?.[1]
                  if (!data) continue
                  const e = JSON.parse(data) as { type: string; createdAt: string }
                  latencies.push(now - Date.parse(e.createdAt))
                  if (e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled') ended = true
                }
              })
              res.on('error', () => {})
            },
          )
          req.setTimeout(o.timeoutMs, () => req.destroy())
          req.on('error', () => resolve())
          req.on('close', () => {
            if (!ended) incomplete++
            resolve()
          })
          req.end()
        }),
    ),
  )
  return { latencies, incomplete }
}

/**
 * An SSE reader of a run on a raw socket: `stalled` sends its request and never reads a byte of the answer; otherwise it
 * reads and discards everything (a client that keeps up, at almost no CPU cost here).
 */
export async function rawReader(baseUrl: string, token: string, runId: string, stalled: boolean): Promise<{ close(): void }> {
  const u = new URL(baseUrl)
  const socket = netConnect(Number(u.port), u.hostname)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  if (stalled) socket.pause()
  else socket.resume()
  socket.on('error', () => {})
  socket.write(`GET /agent/run/${runId}/events HTTP/1.1\r\nhost: ${u.host}\r\nauthorization: Bearer ${token}\r\naccept: text/event-stream\r\n\r\n`)
  return { close: () => socket.destroy() }
}
