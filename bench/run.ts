/**
 * OpenVesper benchmark suite: `pnpm bench` (full, ~3 min) or `pnpm bench --quick` (~1-2 min smoke run).
 *
 * Everything runs on 127.0.0.1: the BUILT gateway as real processes (`node apps/gateway/dist/main.js --role=…`),
 * the scripted upstream from @openvesper/testing in its own process, the machine's Postgres and Redis (a bench
 * database and a unique key prefix, both removed at the end). Every figure is printed beside a baseline measured
 * in the same run. Results: bench/results/<iso-time>.json and bench/results/latest.json (git-ignored).
 *
 * Flags:
 *   --quick            short durations and counts (smoke run)
 *   --no-build         skip `turbo run build` (the dist must be current)
 *   --only=a,b         scenario groups: cold, sync, stream, async, scale, embedded, slow, parse, anthropic, passthrough
 *   --profile          spawn gateway/worker processes with `node --cpu-prof`; prints the top functions per profile
 *                      (profiles under bench/results/profiles/<time>/; timings of a profiled run are not comparable)
 *   --log-level=L      OPENVESPER_LOG_LEVEL of the HTTP gateways (default: info, the product default); workers stay at info, their readiness is read from their log
 *   --keep-logs        keep the gateway logs (bench/results/logs/<time>/) even when every scenario succeeded
 *   --gateway-env=K=V  extra environment for every gateway process (repeatable), to compare settings in one run
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'node:http'
import { parseArgs } from 'node:util'
import { bullmq, Redis } from './lib/deps.js'
import { assertServices, benchRedisPrefix, createBenchDatabase, dropStaleBenchDatabases, REDIS_URL, type BenchDatabase } from './lib/infra.js'
import {
  type CannonResult,
  followRun,
  getRun,
  isTerminal,
  poolCannon,
  poolStreams,
  runAsyncBatch,
  runCannon,
  rawReader,
  send,
  type StreamTimings,
  timeStreams,
  type AsyncRunsResult,
} from './lib/load.js'
import { cpuMs, forkIpc, type GatewayProcess, type IpcChild, ROOT, rssMb, sleep, spawnGateway } from './lib/procs.js'
import { median, summarize } from './lib/stats.js'
import { formatProfile, summarizeProfile } from './tools/profile-top.js'
import { hostileBodies, ordinaryBody } from '../packages/testing/src/bodies.js'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    'keep-logs': { type: 'boolean', default: false },
    'gateway-env': { type: 'string', multiple: true, default: [] },
  },
  strict: true,
})

const GROUPS = ['cold', 'sync', 'stream', 'async', 'scale', 'embedded', 'slow', 'parse', 'anthropic', 'passthrough'] as const
type Group = (typeof GROUPS)[number]
const only = new Set(
  (flags.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? GROUPS) as Group[],
)
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown group '${g}' (known: ${GROUPS.join(', ')})`)
const want = (g: Group) => only.has(g)

/** Every duration and count of the run: each scenario is bounded by one of these. */
const PLAN = flags.quick
  ? {
      warmupS: 1,
      syncS: 2,
      sync32S: 2,
      streams: 100,
      streamMaxMs: 2000,
      asyncWarmup: 100,
      asyncRuns: 400,
      rawJobs: 2000,
      scaleRuns: 200,
      embeddedRuns: 300,
      coldReps: 1,
      idleMs: 1000,
      maxSubmitMs: 4000,
      maxWaitMs: 30_000,
      slowRounds: 1,
      slowReaders: 20,
    }
  : {
      warmupS: 2,
      syncS: 10,
      sync32S: 10,
      streams: 500,
      streamMaxMs: 8000,
      asyncWarmup: 200,
      asyncRuns: 3000,
      rawJobs: 10_000,
      scaleRuns: 3000,
      embeddedRuns: 3000,
      coldReps: 3,
      idleMs: 2000,
      maxSubmitMs: 10_000,
      maxWaitMs: 60_000,
      slowRounds: 5,
      slowReaders: 100,
    }
const CONNECTIONS_HIGH = 32
const ASYNC_SUBMIT_CONCURRENCY = 32
/** The product defaults, stated here so the raw baseline uses the same. */
const WORKER_CONCURRENCY = 16
const DB_POOL_MAX = 10
const SESSION_TURNS = 8
/** Chunks of the long reply (sync scenario): each becomes one agent.text_delta event. */
const LONG_REPLY_WORDS = 100
const MODEL = 'openai/bench-model'
const MESSAGE = 'Summarise the plot of Hamlet in one sentence.'

const EXTRA_ENV = Object.fromEntries(
  flags['gateway-env']!.map((kv) => {
    const eq = kv.indexOf('=')
    if (eq < 1) throw new Error(`--gateway-env: expected K=V (got '${kv}')`)
    return [kv.slice(0, eq), kv.slice(eq + 1)]
  }),
)

const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const RESULTS = join(ROOT, 'bench/results')
const LOGS = join(RESULTS, 'logs', stamp)
const PROFILES = join(RESULTS, 'profiles', stamp)
const token = `ovk_bench_${randomBytes(18).toString('base64url')}`
const auth = { authorization: `Bearer ${token}` }

interface Row {
  scenario: string
  measured: string
  baseline: string
  ratio: string
  target: string
  met: string
}
const rows: Row[] = []
const raw: Record<string, unknown> = {}
const errors: string[] = []

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a')
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a')
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a')
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${f2(a / b)}×` : 'n/a')
const yes = (ok: boolean) => (ok ? 'yes' : 'NO')

// ------------------------------------------------------------------------------------------------------------
// Shared infrastructure

let upstream: IpcChild | undefined
/** The local Redis server, metered by every cpuMeter (undefined when Redis runs elsewhere). */
let redisPid: number | undefined
let upstreamUrl = ''
let db: BenchDatabase | undefined
const redis = benchRedisPrefix()
const live = new Set<GatewayProcess>()
const tempDirs: string[] = []
let prefixSeq = 0

function gatewayEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OPENVESPER_TOKEN: token,
    OPENVESPER_LOG_LEVEL: flags['log-level']!,
    OPENVESPER_CONFIG: '/nonexistent/openvesper.config.json',
    OPENVESPER_MODEL: MODEL,
    OPENAI_BASE_URL: `${upstreamUrl}/v1`,
    OPENAI_API_KEY: 'sk-bench',
    ANTHROPIC_BASE_URL: upstreamUrl,
    ANTHROPIC_API_KEY: 'sk-ant-bench',
    OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
    // Every request comes from 127.0.0.1: lift the per-client limit so it counts (its cost is measured) but never rejects.
    OPENVESPER_RATE_LIMIT: '10000000',
    ...EXTRA_ENV,
    ...extra,
  }
}

/** Server mode (Postgres + Redis); each call gets its own BullMQ/Redis prefix under the run's prefix. */
function serverEnv(prefix?: string): Record<string, string> {
  return gatewayEnv({ DATABASE_URL: db!.url, REDIS_URL, OPENVESPER_REDIS_PREFIX: prefix ?? `${redis.prefix}${prefixSeq++}` })
}

/**
 * Embedded mode on a data folder on disk (the product default is ./.openvesper). The first call creates a fresh
 * folder; later calls reuse it (initialised and migrated), so only one start pays PGlite's initdb.
 */
let embeddedDir: string | undefined
function embeddedEnv(): Record<string, string> {
  if (!embeddedDir) {
    embeddedDir = mkdtempSync(join(tmpdir(), 'ov-bench-embedded-'))
    tempDirs.push(embeddedDir)
  }
  return gatewayEnv({ OPENVESPER_DATA_DIR: join(embeddedDir, 'data') })
}

/** Levels that hide the 'worker started' line a worker's readiness is read from (a worker logs nothing per run). */
const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent'])

async function start(role: GatewayProcess['role'], env: Record<string, string>, name: string, timeoutMs = 60_000): Promise<GatewayProcess> {
  const p = await spawnGateway({
    role,
    env: role === 'worker' && QUIET_LEVELS.has(env.OPENVESPER_LOG_LEVEL ?? '') ? { ...env, OPENVESPER_LOG_LEVEL: 'info' } : env,
    timeoutMs,
    logFile: join(LOGS, `${name}.log`),
    ...(flags.profile ? { cpuProfDir: PROFILES, profName: name } : {}),
  })
  live.add(p)
  startedProcs.set(name, p.readyMs)
  return p
}
/** Name → ms the process took to become ready (profiles skip that much: module loading, schema compilation). */
const startedProcs = new Map<string, number>()

async function stop(...ps: (GatewayProcess | undefined)[]): Promise<void> {
  await Promise.all(
    ps.map(async (p) => {
      if (!p) return
      await p.stop()
      live.delete(p)
    }),
  )
}

async function setUpstreamDelay(delayMs: number): Promise<void> {
  await upstream!.call({ type: 'setDefault', reply: delayMs > 0 ? { text: 'ok', delayMs } : { text: 'ok' } })
}

/**
 * CPU time used by the named processes, the Postgres backends serving the gateway or the raw baseline, and the local
 * Redis server (shared, so it counts everything Redis did meanwhile) between start() and stop(), in ms. Robust to other
 * load on the machine, unlike wall-clock figures.
 */
function cpuMeter(named: Record<string, number | undefined>) {
  const procs = redisPid ? { ...named, redis: redisPid } : named
  const pgPids = async (): Promise<number[]> =>
    (await db!.sql`select pid from pg_stat_activity where datname = current_database() and application_name in ('openvesper', 'ov-bench-raw')`).map(
      (r: { pid: number }) => r.pid,
    )
  let before: Record<string, number> = {}
  let sysBefore: Record<string, number> = {}
  let pgBefore = new Map<number, number>()
  const selfBefore = process.cpuUsage()
  return {
    /** Share of each named process's CPU time spent in the kernel over the last start()–stop(), in %. */
    kernelShare: {} as Record<string, number>,
    async start() {
      before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, pid ? cpuMs(pid) : NaN]))
      sysBefore = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, pid ? cpuMs(pid, 'sys') : NaN]))
      pgBefore = new Map((await pgPids()).map((pid) => [pid, cpuMs(pid)]))
      return this
    },
    async stop(): Promise<Record<string, number>> {
      const out: Record<string, number> = {}
      for (const [k, pid] of Object.entries(procs)) {
        out[k] = pid ? cpuMs(pid) - before[k]! : NaN
        this.kernelShare[k] = pid && out[k]! > 0 ? Math.round((100 * (cpuMs(pid, 'sys') - sysBefore[k]!)) / out[k]!) : NaN
      }
      let pg = 0
      for (const pid of await pgPids()) {
        const now = cpuMs(pid)
        if (Number.isFinite(now)) pg += now - (pgBefore.get(pid) ?? 0)
      }
      out.postgres = pg
      const self = process.cpuUsage(selfBefore)
      out.bench = (self.user + self.system) / 1000
      return out
    },
  }
}

/** Length of one interleaved round of the latency scenarios (sync, 1 connection; stream), in seconds. */
const ROUND_S = 2
const addCpu = (total: Record<string, number>, cpu: Record<string, number>) => {
  for (const [k, v] of Object.entries(cpu)) total[k] = (total[k] ?? 0) + v
}
const withoutSamples = ({ samples: _, ...figures }: CannonResult) => figures
const perRun = (cpu: Record<string, number>, n: number) => Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Math.round((100 * v) / n) / 100]))
const fmtCpu = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .filter(([k, v]) => k !== 'bench' && Number.isFinite(v))
    .map(([k, v]) => `${k} ${f2(v)}`)
    .join(' + ')
const sumCpu = (cpu: Record<string, number>, keys: string[]) => keys.reduce((a, k) => a + (Number.isFinite(cpu[k]!) ? cpu[k]! : 0), 0)

/** A body per request; one session per connection for SESSION_TURNS requests (a short conversation), then a new one. */
const sessionBody = (prefix: string) => (ctx: Record<string, any>) => {
  ctx.session ??= `${prefix}-${randomBytes(6).toString('hex')}`
  return JSON.stringify({ message: MESSAGE, sessionKey: ctx.session })
}

// ------------------------------------------------------------------------------------------------------------
// Scenarios

/**
 * The Anthropic-compatible surface (issue 13), 1 connection, interleaved rounds: a non-streamed `anthropic/…` provider
 * model through POST /anthropic/v1/messages beside the same upstream request sent directly (the request the gateway
 * sends, read back from the upstream), and an agent through POST /anthropic/v1/messages beside POST /agent.
 */
async function anthropicSurface(): Promise<void> {
  await setUpstreamDelay(0)
  const gw = await start('api', serverEnv(), 'anthropic-api')
  try {
    const headers = { 'x-api-key': token, 'anthropic-version': '2023-06-01' }
    const passBody = JSON.stringify({ model: 'anthropic/bench-model', max_tokens: 64, messages: [{ role: 'user', content: MESSAGE }] })
    const agentBody = JSON.stringify({ model: 'main', max_tokens: 64, messages: [{ role: 'user', content: MESSAGE }] })
    const nativeBody = JSON.stringify({ message: MESSAGE })
    const probe = await fetch(`${gw.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: passBody,
    })
    if (probe.status !== 200) throw new Error(`anthropic probe failed: ${probe.status} ${await probe.text()}`)
    const upstreamReq = (await upstream!.call<{ path: string; body: unknown }>({ type: 'lastRequest' }))!
    const upstreamBody = JSON.stringify(upstreamReq.body)
    const direct = { url: `${upstreamUrl}${upstreamReq.path}`, headers: { 'x-api-key': 'sk-ant-bench', accept: 'text/event-stream' }, body: () => upstreamBody }
    const through = { url: `${gw.url}/anthropic/v1/messages`, headers, body: () => passBody }
    const agent = { url: `${gw.url}/anthropic/v1/messages`, headers, body: () => agentBody }
    const native = { url: `${gw.url}/agent`, headers: auth, body: () => nativeBody }
    log(`anthropic: warm-up ${PLAN.warmupS} s each`)
    for (const o of [direct, through, agent, native]) await runCannon({ ...o, connections: 1, durationS: PLAN.warmupS })
    const rounds = Math.max(1, Math.round(PLAN.syncS / ROUND_S))
    const durationS = PLAN.syncS / rounds
    const results: Record<'direct' | 'through' | 'agent' | 'native', CannonResult[]> = { direct: [], through: [], agent: [], native: [] }
    for (let r = 0; r < rounds; r++) {
      results.direct.push(await runCannon({ ...direct, connections: 1, durationS }))
      results.through.push(await runCannon({ ...through, connections: 1, durationS }))
      results.agent.push(await runCannon({ ...agent, connections: 1, durationS }))
      results.native.push(await runCannon({ ...native, connections: 1, durationS }))
    }
    const [d, t, a, n] = (['direct', 'through', 'agent', 'native'] as const).map((k) => poolCannon(results[k]))
    raw.anthropic = { direct: withoutSamples(d!), passthrough: withoutSamples(t!), agent: withoutSamples(a!), agentNative: withoutSamples(n!) }
    for (const [name, m] of [
      ['pass-through', t!],
      ['agent', a!],
      ['POST /agent', n!],
    ] as const)
      if (m.non2xx || m.errors) errors.push(`anthropic ${name}: ${m.non2xx} non-2xx, ${m.errors} errors ${JSON.stringify(m.statusCodes)}`)
    const over = median(results.through.map((m, i) => m.latency.p50 - results.direct[i]!.latency.p50))
    log(
      `  direct p50 ${f2(d!.latency.p50)} ms | pass-through p50 ${f2(t!.latency.p50)} ms | agent ${f2(a!.latency.p50)} ms | POST /agent ${f2(n!.latency.p50)} ms`,
    )
    rows.push({
      scenario: 'POST /anthropic/v1/messages anthropic/… (pass-through), 1 conn, p50',
      measured: `${f2(t!.latency.p50)} ms (+${f2(over)})`,
      baseline: `${f2(d!.latency.p50)} ms direct`,
      ratio: ratio(t!.latency.p50, d!.latency.p50),
      target: 'overhead ≤ 0.5 ms',
      met: yes(over <= 0.5),
    })
    rows.push({
      scenario: 'POST /anthropic/v1/messages model main (agent), 1 conn, p50',
      measured: `${f2(a!.latency.p50)} ms`,
      baseline: `${f2(n!.latency.p50)} ms POST /agent`,
      ratio: ratio(a!.latency.p50, n!.latency.p50),
      target: '≤ 1.1×',
      met: yes(a!.latency.p50 <= 1.1 * n!.latency.p50),
    })
  } finally {
    await stop(gw)
  }
}

/**
 * Embedded: the first start on a fresh data folder (PGlite initdb + every migration), then restarts on that
 * initialised folder (what a user sees from the second start on). Server: starts against the migrated bench database.
 */
async function coldStart(): Promise<void> {
  for (const mode of ['embedded', 'server'] as const) {
    const fresh: number[] = []
    const ready: number[] = []
    const rss: number[] = []
    // CPU time the process used until ready: less skewed by other load than the wall-clock figure.
    const cpu: number[] = []
    let freshCpu = NaN
    if (mode === 'embedded') {
      const p = await start('all', embeddedEnv(), 'cold-embedded-fresh', 120_000)
      fresh.push(p.readyMs)
      freshCpu = cpuMs(p.pid)
      await sleep(PLAN.idleMs)
      rss.push(rssMb(p.pid) ?? NaN)
      await stop(p)
    }
    for (let i = 0; i < PLAN.coldReps; i++) {
      const p = await start('all', mode === 'embedded' ? embeddedEnv() : serverEnv(), `cold-${mode}-${i}`, 120_000)
      ready.push(p.readyMs)
      cpu.push(cpuMs(p.pid))
      await sleep(PLAN.idleMs)
      rss.push(rssMb(p.pid) ?? NaN)
      await stop(p)
    }
    raw[`cold_${mode}`] = {
      readyMs: ready,
      cpuMsToReady: cpu,
      rssMb: rss,
      ...(fresh.length ? { freshDataDirReadyMs: fresh, freshDataDirCpuMs: freshCpu } : {}),
    }
    const r = median(ready)
    const m = median(rss)
    if (mode === 'embedded') {
      const fr = fresh[0]!
      rows.push({
        scenario: 'cold start → /health (embedded, first start, fresh data dir)',
        measured: `${f0(fr)} ms`,
        baseline: '—',
        ratio: '—',
        target: '≤ 1,500 ms',
        met: yes(fr <= 1500),
      })
      rows.push({
        scenario: '  (same, CPU ms of the process until ready)',
        measured: `${f0(freshCpu)} ms`,
        baseline: '—',
        ratio: '—',
        target: 'report',
        met: '—',
      })
    }
    const label = mode === 'embedded' ? 'embedded, existing data dir' : 'server, migrated db'
    rows.push({ scenario: `cold start → /health (${label})`, measured: `${f0(r)} ms`, baseline: '—', ratio: '—', target: '≤ 1,500 ms', met: yes(r <= 1500) })
    rows.push({
      scenario: '  (same, CPU ms of the process until ready)',
      measured: `${f0(median(cpu))} ms`,
      baseline: '—',
      ratio: '—',
      target: 'report',
      met: '—',
    })
    rows.push({
      scenario: `idle RSS (${mode}, ${PLAN.idleMs / 1000} s after start)`,
      measured: `${f0(m)} MB`,
      baseline: '—',
      ratio: '—',
      target: '≤ 150 MB',
      met: yes(m <= 150),
    })
    log(
      `cold start ${mode}: ${fresh.length ? `fresh data dir ${f0(fresh[0]!)} ms, ` : ''}ready ${ready.map(f0).join('/')} ms (CPU ${cpu.map(f0).join('/')} ms), rss ${rss.map(f0).join('/')} MB`,
    )
  }
}

/** Sync (1 and 32 connections) and stream scenarios share one server-mode API gateway. */
async function syncAndStream(): Promise<void> {
  await setUpstreamDelay(0)
  const gw = await start('api', serverEnv(), 'sync-api')
  try {
    // The request the gateway sends upstream for turn 5 of a session: the baseline sends exactly this.
    const probe = `probe-${randomBytes(4).toString('hex')}`
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.url}/agent`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ message: MESSAGE, sessionKey: probe }),
      })
      const run = (await res.json()) as { status?: string }
      if (res.status !== 200 || run.status !== 'completed') throw new Error(`probe run failed: ${res.status} ${JSON.stringify(run)}`)
    }
    const upstreamReq = (await upstream!.call<{ path: string; body: unknown }>({ type: 'lastRequest' }))!
    const upstreamBody = JSON.stringify(upstreamReq.body)
    raw.upstream_request = { path: upstreamReq.path, bytes: upstreamBody.length, messages: (upstreamReq.body as { messages: unknown[] }).messages.length }
    const upstreamUrlFull = `${upstreamUrl}${upstreamReq.path}`
    const upstreamHeaders = { authorization: 'Bearer sk-bench', accept: 'text/event-stream' }

    if (want('sync')) {
      log(`sync: warm-up ${PLAN.warmupS} s each`)
      await runCannon({ url: upstreamUrlFull, headers: upstreamHeaders, body: () => upstreamBody, connections: 1, durationS: PLAN.warmupS })
      await runCannon({ url: `${gw.url}/agent`, headers: auth, body: sessionBody('warm'), turns: SESSION_TURNS, connections: 1, durationS: PLAN.warmupS })

      for (const connections of [1, CONNECTIONS_HIGH]) {
        // One connection (the latency target): interleaved rounds, so a slow moment of the machine hits both sides.
        const rounds = connections === 1 ? Math.max(1, Math.round(PLAN.syncS / ROUND_S)) : 1
        const durationS = connections === 1 ? PLAN.syncS / rounds : PLAN.sync32S
        log(`sync: ${connections} connection(s), ${rounds} round(s) of ${durationS} s upstream direct, then ${durationS} s through the gateway`)
        const bases: CannonResult[] = []
        const measured: CannonResult[] = []
        const cpuBaseTotal: Record<string, number> = {}
        const cpuGwTotal: Record<string, number> = {}
        let kernelShare = NaN
        for (let r = 0; r < rounds; r++) {
          const mb = await cpuMeter({ upstream: upstream!.child.pid }).start()
          bases.push(await runCannon({ url: upstreamUrlFull, headers: upstreamHeaders, body: () => upstreamBody, connections, durationS }))
          addCpu(cpuBaseTotal, await mb.stop())
          const mg = await cpuMeter({ gateway: gw.pid, upstream: upstream!.child.pid }).start()
          measured.push(
            await runCannon({ url: `${gw.url}/agent`, headers: auth, body: sessionBody(`s${connections}`), turns: SESSION_TURNS, connections, durationS }),
          )
          addCpu(cpuGwTotal, await mg.stop())
          kernelShare = mg.kernelShare.gateway!
        }
        const base = poolCannon(bases)
        const meas = poolCannon(measured)
        const cpuBase = perRun(cpuBaseTotal, base.ok)
        const cpuGw = perRun(cpuGwTotal, meas.ok)
        const roundOverheads = measured.map((m, i) => m.latency.p50 - bases[i]!.latency.p50)
        raw[`sync_${connections}`] = {
          gateway: withoutSamples(meas),
          upstream: withoutSamples(base),
          roundOverheadsP50: roundOverheads,
          cpuMsPerRequest: { gateway: cpuGw, upstream: cpuBase },
        }
        log(`  CPU ms per request: through the gateway ${fmtCpu(cpuGw)} | direct ${fmtCpu(cpuBase)} (gateway: ${kernelShare}% in the kernel)`)
        if (meas.non2xx || meas.errors)
          errors.push(`sync ${connections} conn: ${meas.non2xx} non-2xx, ${meas.errors} errors ${JSON.stringify(meas.statusCodes)}`)
        log(
          `  upstream ${f0(base.rps)} req/s p50 ${f2(base.latency.p50)} ms | gateway ${f0(meas.rps)} runs/s p50 ${f2(meas.latency.p50)} ms p99 ${f2(meas.latency.p99)} ms`,
        )
        if (connections === 1) {
          log(`  p50 overhead per round: ${roundOverheads.map(f2).join(', ')} ms`)
          const over = median(roundOverheads)
          rows.push({
            scenario: 'POST /agent sync + session, 1 conn, p50',
            measured: `${f2(meas.latency.p50)} ms (+${f2(over)})`,
            baseline: `${f2(base.latency.p50)} ms`,
            ratio: ratio(meas.latency.p50, base.latency.p50),
            target: 'overhead ≤ 3 ms',
            met: yes(over <= 3),
          })
          rows.push({
            scenario: '  (CPU ms per run: gateway + postgres + upstream)',
            measured: `${f2(sumCpu(cpuGw, ['gateway', 'postgres', 'upstream']))} ms`,
            baseline: `${f2(sumCpu(cpuBase, ['upstream']))} ms`,
            ratio: ratio(sumCpu(cpuGw, ['gateway', 'postgres', 'upstream']), sumCpu(cpuBase, ['upstream'])),
            target: 'report',
            met: '—',
          })
          rows.push({
            scenario: 'POST /agent sync + session, 1 conn, p99',
            measured: `${f2(meas.latency.p99)} ms (+${f2(meas.latency.p99 - base.latency.p99)})`,
            baseline: `${f2(base.latency.p99)} ms`,
            ratio: ratio(meas.latency.p99, base.latency.p99),
            target: 'report',
            met: '—',
          })
        } else {
          rows.push({
            scenario: `POST /agent sync + session, ${connections} conns, runs/s`,
            measured: `${f0(meas.rps)}/s`,
            baseline: `${f0(base.rps)}/s`,
            ratio: ratio(meas.rps, base.rps),
            target: 'report',
            met: '—',
          })
          rows.push({
            scenario: `  (same, p50 / p99 latency)`,
            measured: `${f1(meas.latency.p50)} / ${f1(meas.latency.p99)} ms`,
            baseline: `${f1(base.latency.p50)} / ${f1(base.latency.p99)} ms`,
            ratio: ratio(meas.latency.p50, base.latency.p50),
            target: 'report',
            met: '—',
          })
        }
      }
    }

    if (want('sync')) {
      // Per-event cost: the same sync request, but the model streams LONG_REPLY_WORDS chunks (one agent.text_delta each).
      const text = Array.from({ length: LONG_REPLY_WORDS }, (_, i) => `w${i}`).join(' ')
      await upstream!.call({ type: 'setDefault', reply: { text } })
      const durationS = Math.max(2, Math.round(PLAN.syncS / 2))
      log(`sync: 1 connection, ${LONG_REPLY_WORDS}-chunk reply, ${durationS} s upstream direct, then ${durationS} s through the gateway`)
      try {
        const base = await runCannon({ url: upstreamUrlFull, headers: upstreamHeaders, body: () => upstreamBody, connections: 1, durationS })
        const mg = await cpuMeter({ gateway: gw.pid }).start()
        const meas = await runCannon({ url: `${gw.url}/agent`, headers: auth, body: sessionBody('long'), turns: SESSION_TURNS, connections: 1, durationS })
        const cpuGw = perRun(await mg.stop(), meas.ok)
        raw.sync_long_reply = { words: LONG_REPLY_WORDS, gateway: meas, upstream: base, cpuMsPerRequest: cpuGw }
        if (meas.non2xx || meas.errors) errors.push(`sync long reply: ${meas.non2xx} non-2xx, ${meas.errors} errors`)
        const over = meas.latency.p50 - base.latency.p50
        log(
          `  upstream p50 ${f2(base.latency.p50)} ms | gateway p50 ${f2(meas.latency.p50)} ms (${f2(over / LONG_REPLY_WORDS)} ms per chunk); CPU ms per run ${fmtCpu(cpuGw)}`,
        )
        rows.push({
          scenario: `POST /agent sync + session, 1 conn, ${LONG_REPLY_WORDS}-chunk reply, p50`,
          measured: `${f2(meas.latency.p50)} ms (+${f2(over)})`,
          baseline: `${f2(base.latency.p50)} ms`,
          ratio: ratio(meas.latency.p50, base.latency.p50),
          target: 'report',
          met: '—',
        })
      } finally {
        await setUpstreamDelay(0)
      }
    }

    if (want('stream')) {
      log(`stream: ${PLAN.streams} sequential streams each (≤ ${PLAN.streamMaxMs / 1000} s), upstream direct then gateway`)
      await timeStreams({ url: upstreamUrlFull, headers: upstreamHeaders, body: () => upstreamBody, count: 50, maxDurationMs: 2000, kind: 'upstream' })
      let session = ''
      const gwBody = (i: number) => {
        if (i % SESSION_TURNS === 0) session = `st-${randomBytes(6).toString('hex')}`
        return JSON.stringify({ message: MESSAGE, sessionKey: session })
      }
      await timeStreams({ url: `${gw.url}/agent/stream`, headers: auth, body: gwBody, count: 50, maxDurationMs: 2000, kind: 'gateway' })
      // Interleaved rounds, as for sync: a slow moment of the machine hits both sides.
      const rounds = Math.max(1, Math.round(PLAN.syncS / ROUND_S))
      const perRound = Math.ceil(PLAN.streams / rounds)
      const bases: StreamTimings[] = []
      const measured: StreamTimings[] = []
      const cpuBaseTotal: Record<string, number> = {}
      const cpuGwTotal: Record<string, number> = {}
      for (let r = 0; r < rounds; r++) {
        const mb = await cpuMeter({ upstream: upstream!.child.pid }).start()
        bases.push(
          await timeStreams({
            url: upstreamUrlFull,
            headers: upstreamHeaders,
            body: () => upstreamBody,
            count: perRound,
            maxDurationMs: PLAN.streamMaxMs / rounds,
            kind: 'upstream',
          }),
        )
        addCpu(cpuBaseTotal, await mb.stop())
        const mg = await cpuMeter({ gateway: gw.pid, upstream: upstream!.child.pid }).start()
        measured.push(
          await timeStreams({
            url: `${gw.url}/agent/stream`,
            headers: auth,
            body: gwBody,
            count: perRound,
            maxDurationMs: PLAN.streamMaxMs / rounds,
            kind: 'gateway',
          }),
        )
        addCpu(cpuGwTotal, await mg.stop())
      }
      const base = poolStreams(bases)
      const meas = poolStreams(measured)
      const cpuBase = perRun(cpuBaseTotal, base.count)
      const cpuGw = perRun(cpuGwTotal, meas.count)
      const roundOverheads = measured.map((m, i) => m.firstEvent.p50 - bases[i]!.firstEvent.p50)
      const { samples: _gs, ...gatewayFigures } = meas
      const { samples: _us, ...upstreamFigures } = base
      raw.stream = {
        gateway: gatewayFigures,
        upstream: upstreamFigures,
        roundOverheadsP50: roundOverheads,
        cpuMsPerRequest: { gateway: cpuGw, upstream: cpuBase },
      }
      log(`  CPU ms per stream: through the gateway ${fmtCpu(cpuGw)} | direct ${fmtCpu(cpuBase)}`)
      log(`  first-event p50 overhead per round: ${roundOverheads.map(f2).join(', ')} ms`)
      if (meas.failures) errors.push(`stream: ${meas.failures} failed gateway streams`)
      const over = median(roundOverheads)
      rows.push({
        scenario: 'POST /agent/stream, time to first event, p50',
        measured: `${f2(meas.firstEvent.p50)} ms (+${f2(over)})`,
        baseline: `${f2(base.firstEvent.p50)} ms`,
        ratio: ratio(meas.firstEvent.p50, base.firstEvent.p50),
        target: 'overhead ≤ 1 ms',
        met: yes(over <= 1),
      })
      rows.push({
        scenario: '  (same, first text delta vs first content chunk, p50)',
        measured: `${f2(meas.firstText.p50)} ms (+${f2(meas.firstText.p50 - base.firstText.p50)})`,
        baseline: `${f2(base.firstText.p50)} ms`,
        ratio: ratio(meas.firstText.p50, base.firstText.p50),
        target: 'report',
        met: '—',
      })
      log(
        `  upstream first chunk p50 ${f2(base.firstEvent.p50)} ms | gateway first event p50 ${f2(meas.firstEvent.p50)} ms, first delta ${f2(meas.firstText.p50)} ms (n=${meas.count})`,
      )
    }
  } finally {
    await stop(gw)
  }
}

/** Raw BullMQ: N jobs, each one INSERT, worker in its own process with the gateway worker's concurrency and pool. */
async function rawBullmqBaseline(): Promise<{ runsPerS: number; spanMs: number; jobs: number; cpuMsPerJob: Record<string, number> }> {
  const prefix = `${redis.prefix}raw`
  const queueName = 'raw'
  await db!
    .sql`create table if not exists bench_raw_jobs (id text primary key, n int not null, enqueued_at bigint not null, done_at timestamptz not null default clock_timestamp())`
  await db!.sql`truncate bench_raw_jobs`
  const worker = await forkIpc(join(ROOT, 'bench/baseline/bullmq-worker.ts'), [
    JSON.stringify({ redisUrl: REDIS_URL, prefix, queueName, databaseUrl: db!.url, concurrency: WORKER_CONCURRENCY, poolMax: DB_POOL_MAX }),
  ])
  const conn = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await conn.connect()
  const queue = new bullmq.Queue(queueName, { connection: conn, prefix })
  try {
    const produce = async (count: number, from: number): Promise<number> => {
      let next = 0
      const deadline = performance.now() + PLAN.maxSubmitMs
      await Promise.all(
        Array.from({ length: ASYNC_SUBMIT_CONCURRENCY }, async () => {
          while (next < count && performance.now() < deadline) {
            const n = from + next++
            await queue.add('raw.insert', { n, t: Date.now() }, { jobId: `j${n}`, removeOnComplete: true, removeOnFail: true, attempts: 1 })
          }
        }),
      )
      return next
    }
    const waitFor = async (count: number) => {
      const deadline = performance.now() + PLAN.maxWaitMs
      for (;;) {
        const [{ c }] = await db!.sql`select count(*)::int as c from bench_raw_jobs`
        if (c >= count || performance.now() > deadline) return c as number
        await sleep(50)
      }
    }
    await produce(500, 0) // warm-up
    await waitFor(500)
    await db!.sql`truncate bench_raw_jobs`
    const meter = await cpuMeter({ worker: worker.child.pid }).start()
    const t0 = Date.now()
    const submitted = await produce(PLAN.rawJobs, 1000)
    const submitMs = Date.now() - t0
    const done = await waitFor(submitted)
    const [{ first, last }] = await db!
      .sql`select min(enqueued_at)::float8 as first, (extract(epoch from max(done_at)) * 1000)::float8 as last from bench_raw_jobs`
    const spanMs = last - first
    const cpuMsPerJob = perRun(await meter.stop(), Math.max(1, done))
    const result = { jobs: done, submitMs, spanMs, runsPerS: done / (spanMs / 1000), cpuMsPerJob }
    log(`    CPU ms per job: ${fmtCpu(cpuMsPerJob)} (producer in the bench process: ${f2(cpuMsPerJob.bench!)})`)
    raw.async_raw_bullmq = result
    if (done < submitted) errors.push(`raw BullMQ baseline: only ${done}/${submitted} jobs done`)
    log(`raw BullMQ: ${done} jobs in ${f0(spanMs)} ms → ${f0(result.runsPerS)} jobs/s (submit ${f0(submitMs)} ms)`)
    return result
  } finally {
    await queue.close().catch(() => {})
    conn.disconnect()
    await worker.stop()
  }
}

async function asyncBatch(
  baseUrl: string,
  count: number,
  label: string,
  procs: Record<string, number | undefined> = {},
): Promise<AsyncRunsResult & { cpuMsPerRun: Record<string, number> }> {
  // CPU is metered from the first submission until the last-submitted run is terminal (the read-back sweep is not counted).
  const meter = await cpuMeter({ ...procs, upstream: upstream!.child.pid }).start()
  let cpu: Record<string, number> = {}
  const result = await runAsyncBatch({
    baseUrl,
    token,
    count,
    concurrency: ASYNC_SUBMIT_CONCURRENCY,
    maxSubmitMs: PLAN.maxSubmitMs,
    maxWaitMs: PLAN.maxWaitMs,
    onLastDone: async () => {
      cpu = await meter.stop()
    },
  })
  const r = { ...result, cpuMsPerRun: perRun(cpu, Math.max(1, result.terminal)) }
  log(
    `  ${label}: ${r.accepted}/${r.submitted} accepted (${f0(r.acceptRps)}/s), ${r.terminal} terminal (${r.notCompleted} not completed) in ${f0(r.spanMs)} ms → ${f0(r.runsPerS)} runs/s; run latency p50 ${f0(r.latency.p50)} ms p99 ${f0(r.latency.p99)} ms`,
  )
  const kernel = Object.entries(meter.kernelShare)
    .filter(([, v]) => Number.isFinite(v))
    .map(([k, v]) => `${k} ${v}%`)
    .join(', ')
  log(`    CPU ms per run: ${fmtCpu(r.cpuMsPerRun)} (in the kernel: ${kernel})`)
  if (r.rejected || r.notCompleted) errors.push(`${label}: ${r.rejected} rejected, ${r.notCompleted} not completed`)
  return r
}

async function asyncScenarios(): Promise<void> {
  let server1: (AsyncRunsResult & { cpuMsPerRun: Record<string, number> }) | undefined
  if (want('async') || want('embedded')) {
    await setUpstreamDelay(0)
    const prefix = `${redis.prefix}${prefixSeq++}`
    const api = await start('api', serverEnv(prefix), 'async-api')
    const w1 = await start('worker', serverEnv(prefix), 'async-worker')
    try {
      log(`async (server, 1 worker): warm-up ${PLAN.asyncWarmup} runs, then up to ${PLAN.asyncRuns} runs (submitted for at most ${PLAN.maxSubmitMs / 1000} s)`)
      await asyncBatch(api.url!, PLAN.asyncWarmup, 'warm-up')
      server1 = await asyncBatch(api.url!, PLAN.asyncRuns, 'server, 1 worker', { api: api.pid, worker: w1.pid })
      raw.async_server_1w = server1
    } finally {
      await stop(w1, api)
    }
  }
  if (want('async')) {
    log(`async baseline: raw BullMQ, up to ${PLAN.rawJobs} jobs (submitted for at most ${PLAN.maxSubmitMs / 1000} s)`)
    const base = await rawBullmqBaseline()
    const r = server1!.runsPerS
    rows.push({
      scenario: 'async runs accept → completed, server, 1 worker',
      measured: `${f0(r)} runs/s`,
      baseline: `${f0(base.runsPerS)} jobs/s`,
      ratio: ratio(r, base.runsPerS),
      target: '≥ 1,000/s and ≥ 0.30×',
      met: yes(r >= 1000 && r / base.runsPerS >= 0.3),
    })
    const gwCpu = sumCpu(server1!.cpuMsPerRun, ['api', 'worker', 'postgres', 'upstream'])
    const rawCpu = sumCpu(base.cpuMsPerJob, ['worker', 'postgres', 'bench'])
    rows.push({
      scenario: '  (CPU ms per run: api + worker + postgres + upstream)',
      measured: `${f2(gwCpu)} ms`,
      baseline: `${f2(rawCpu)} ms (worker+pg+producer)`,
      ratio: ratio(gwCpu, rawCpu),
      target: 'report',
      met: '—',
    })
  }
  if (want('scale')) {
    await setUpstreamDelay(50)
    const prefix = `${redis.prefix}${prefixSeq++}`
    const api = await start('api', serverEnv(prefix), 'scale-api')
    try {
      log(`async scale (upstream delay 50 ms): up to ${PLAN.scaleRuns} runs with 1 worker, then with 2`)
      const w1 = await start('worker', serverEnv(prefix), 'scale-worker-a')
      await asyncBatch(api.url!, PLAN.asyncWarmup / 2, 'warm-up')
      const one = await asyncBatch(api.url!, PLAN.scaleRuns, '1 worker, delay 50 ms', { api: api.pid, worker: w1.pid })
      const w2 = await start('worker', serverEnv(prefix), 'scale-worker-b')
      await asyncBatch(api.url!, PLAN.asyncWarmup / 2, 'warm-up')
      const two = await asyncBatch(api.url!, PLAN.scaleRuns, '2 workers, delay 50 ms', { api: api.pid, worker: w1.pid, worker2: w2.pid })
      await stop(w1, w2)
      raw.async_scale = { oneWorker: one, twoWorkers: two, ceilingPerWorker: WORKER_CONCURRENCY / 0.05 }
      rows.push({
        scenario: 'async runs, 2 workers vs 1 (upstream delay 50 ms)',
        measured: `${f0(two.runsPerS)} runs/s`,
        baseline: `${f0(one.runsPerS)} runs/s`,
        ratio: ratio(two.runsPerS, one.runsPerS),
        target: '≥ 1.80×',
        met: yes(two.runsPerS / one.runsPerS >= 1.8),
      })
    } finally {
      await stop(api)
      await setUpstreamDelay(0)
    }
  }
  if (want('embedded')) {
    await setUpstreamDelay(0)
    const gw = await start('all', embeddedEnv(), 'embedded-all', 120_000)
    try {
      log(
        `async (embedded, one process): warm-up ${PLAN.asyncWarmup} runs, then up to ${PLAN.embeddedRuns} runs (submitted for at most ${PLAN.maxSubmitMs / 1000} s)`,
      )
      await asyncBatch(gw.url!, PLAN.asyncWarmup, 'warm-up')
      const emb = await asyncBatch(gw.url!, PLAN.embeddedRuns, 'embedded', { gateway: gw.pid })
      raw.async_embedded = emb
      rows.push({
        scenario: 'async runs accept → completed, embedded',
        measured: `${f0(emb.runsPerS)} runs/s`,
        baseline: `${f0(server1!.runsPerS)} runs/s (server)`,
        ratio: ratio(emb.runsPerS, server1!.runsPerS),
        target: 'report',
        met: '—',
      })
    } finally {
      await stop(gw)
    }
  }
}

/** The big run of the slow-consumer scenario: 2,048 chunks of 4 KiB (8 MiB), more than the kernel buffers of a stalled socket take. */
const SLOW_BIG_TEXT = `${'x'.repeat(4095)} `.repeat(2048)
/** The run the readers follow: 300 chunks of 256 B, one every 5 ms. */
const SLOW_PACED_TEXT = `${'y'.repeat(255)} `.repeat(300)

/**
 * A13: `slowReaders` SSE readers follow a paced run while an 8 MiB run streams on the same gateway to one more client,
 * which reads it (baseline) or never reads a byte (measured). Both runs start 300 ms after submission, once the
 * readers listen. Server mode, api + worker; the sides alternate over the rounds.
 */
async function slowConsumer(): Promise<void> {
  await upstream!.call({
    type: 'setDefault',
    reply: { text: 'ok' },
    byMarker: { '[big]': { text: SLOW_BIG_TEXT, delayMs: 300 }, '[paced]': { text: SLOW_PACED_TEXT, delayMs: 300, chunkDelayMs: 5 } },
  })
  const prefix = `${redis.prefix}${prefixSeq++}`
  const api = await start('api', serverEnv(prefix), 'slow-api')
  const worker = await start('worker', serverEnv(prefix), 'slow-worker')
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  const submit = async (message: string): Promise<string> => {
    const res = await send(agent, api.url!, 'POST', '/agent/async', auth, JSON.stringify({ message }))
    if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${res.body}`)
    return (JSON.parse(res.body) as { runId: string }).runId
  }
  const completed = async (runId: string) => {
    for (const until = performance.now() + PLAN.maxWaitMs; performance.now() < until; await sleep(50)) {
      const run = await getRun(agent, api.url!, auth, runId)
      if (run && isTerminal(run.status)) {
        if (run.status !== 'completed') throw new Error(`run ${runId} ended ${run.status}`)
        return
      }
    }
    throw new Error(`run ${runId} did not complete within ${PLAN.maxWaitMs} ms`)
  }
  type Side = 'baseline' | 'stalled'
  const latencies: Record<Side, number[]> = { baseline: [], stalled: [] }
  const p99s: Record<Side, number[]> = { baseline: [], stalled: [] }
  const rssGrowth: Record<Side, number[]> = { baseline: [], stalled: [] }
  try {
    log(
      `slow consumer: ${PLAN.slowRounds} round(s); per side ${PLAN.slowReaders} SSE readers of a paced run (300 × 256 B, 5 ms apart) while an 8 MiB run streams to one more reader, which reads it (baseline) or never reads (measured)`,
    )
    for (let round = 0; round < PLAN.slowRounds; round++) {
      for (const side of ['baseline', 'stalled'] as Side[]) {
        const big = await submit(`[big] ${side} ${round}`)
        const bigReader = await rawReader(api.url!, token, big, side === 'stalled')
        const paced = await submit(`[paced] ${side} ${round}`)
        const rss0 = rssMb(api.pid) ?? NaN
        let rssPeak = rss0
        const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(api.pid) ?? 0)), 50)
        try {
          const r = await followRun({ baseUrl: api.url!, token, runId: paced, count: PLAN.slowReaders, timeoutMs: PLAN.maxWaitMs })
          await completed(big)
          if (r.incomplete) errors.push(`slow consumer: ${r.incomplete} reader(s) of the paced run did not reach its terminal event`)
          latencies[side].push(...r.latencies)
          p99s[side].push(summarize(r.latencies).p99)
          rssGrowth[side].push(rssPeak - rss0)
        } finally {
          clearInterval(sampler)
          bigReader.close()
        }
      }
      log(
        `  round ${round + 1}: delivery p99 ${f0(p99s.baseline.at(-1)!)} ms beside a reading client, ${f0(p99s.stalled.at(-1)!)} ms beside a stalled one; api RSS growth ${f0(rssGrowth.baseline.at(-1)!)} / ${f0(rssGrowth.stalled.at(-1)!)} MB`,
      )
    }
  } finally {
    agent.destroy()
    await stop(worker, api)
  }
  const base = summarize(latencies.baseline)
  const withStalled = summarize(latencies.stalled)
  const perRound = p99s.stalled.map((p, i) => p / p99s.baseline[i]!)
  raw.slow_consumer = { baseline: base, stalled: withStalled, p99PerRound: p99s, rssGrowthMb: rssGrowth }
  rows.push({
    scenario: `${PLAN.slowReaders} SSE readers beside a stalled one (A13): delivery p99`,
    measured: `${f2(withStalled.p99)} ms`,
    baseline: `${f2(base.p99)} ms (beside a reading one)`,
    ratio: ratio(withStalled.p99, base.p99),
    target: '≤ 1.20× (median of rounds)',
    met: yes(median(perRound) <= 1.2),
  })
  rows.push({
    scenario: '  (same, gateway RSS growth during a round, max)',
    measured: `${f0(Math.max(...rssGrowth.stalled))} MB`,
    baseline: `${f0(Math.max(...rssGrowth.baseline))} MB`,
    ratio: '—',
    target: 'report',
    met: '—',
  })
}

/**
 * Request parsing cost (issue 15): GET /health latency, probed every 10 ms as the event-loop delay an outside client
 * sees, while 1 MiB bodies of hostile shapes (deep nesting, huge arrays, many keys, __proto__ keys) arrive at the
 * default rate limit (10/s), against the same while ordinary 1 MiB bodies arrive. Embedded mode, one process.
 */
async function parseCost(): Promise<void> {
  const size = 1_048_576 - 64
  const hostile = hostileBodies(size).map((b) => b.body)
  const ordinary = [ordinaryBody(size)]
  const gw = await start('all', embeddedEnv(), 'parse-all', 120_000)
  const seconds = flags.quick ? 3 : 8
  const round = async (bodies: string[]) => {
    let stop = false
    const sender = (async () => {
      for (let i = 0; !stop; i++) {
        const next = sleep(100)
        await fetch(`${gw.url}/agent/async`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: bodies[i % bodies.length] })
          .then((r) => r.arrayBuffer())
          .catch(() => {})
        await next
      }
    })()
    const latencies: number[] = []
    const until = Date.now() + seconds * 1000
    while (Date.now() < until) {
      const t0 = performance.now()
      await fetch(`${gw.url}/health`).then((r) => r.arrayBuffer())
      latencies.push(performance.now() - t0)
      await sleep(10)
    }
    stop = true
    await sender
    return summarize(latencies)
  }
  try {
    await round(ordinary) // warm-up
    const base = await round(ordinary)
    const measured = await round(hostile)
    log(`  parse: /health p99 ${f2(measured.p99)} ms beside hostile bodies, ${f2(base.p99)} ms beside ordinary ones`)
    raw.parse_cost = { ordinary: base, hostile: measured }
    rows.push({
      scenario: 'GET /health beside 1 MiB hostile bodies at 10/s: p99',
      measured: `${f2(measured.p99)} ms`,
      baseline: `${f2(base.p99)} ms (beside ordinary 1 MiB bodies)`,
      ratio: ratio(measured.p99, base.p99),
      target: '≤ 1.50×',
      met: yes(measured.p99 <= 1.5 * base.p99),
    })
  } finally {
    await stop(gw)
  }
}

// ------------------------------------------------------------------------------------------------------------
// Main

/** Share of all CPUs busy over `ms` (Linux /proc/stat): other work on the machine skews every figure. */
async function cpuBusy(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  try {
    const a = read()
    await sleep(ms)
    const b = read()
    return 1 - (b.idle - a.idle) / (b.total - a.total)
  } catch {
    return NaN
  }
}

function gitInfo(): { commit?: string; dirty?: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages', 'apps'], { cwd: ROOT, encoding: 'utf8' }).trim().length > 0
    return { commit, dirty }
  } catch {
    return {}
  }
}

function printTable(): string {
  const head: Row = { scenario: 'scenario', measured: 'measured', baseline: 'baseline', ratio: 'ratio', target: 'target', met: 'met?' }
  const cols = Object.keys(head) as (keyof Row)[]
  const width = (c: keyof Row) => Math.max(...[head, ...rows].map((r) => r[c].length))
  const line = (r: Row) => `| ${cols.map((c) => r[c].padEnd(width(c))).join(' | ')} |`
  return [line(head), `|${cols.map((c) => '-'.repeat(width(c) + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

/**
 * Pass-through on /v1/chat/completions (`model: openai/bench-model`), server mode (`--role=api`), against two
 * baselines in the same interleaved rounds: the same request direct to the upstream, and through the floor (a
 * minimal undici proxy in its own process: no auth, no logging). Non-streamed at 1 and 32 connections, and the
 * time to the first `data:` chunk of a stream.
 */
async function passthroughScenarios(): Promise<void> {
  await setUpstreamDelay(0)
  const gw = await start('api', serverEnv(), 'passthrough-api')
  const floor = await forkIpc(join(ROOT, 'bench/baseline/floor-proxy.ts'), [upstreamUrl])
  try {
    const messages = [{ role: 'user', content: MESSAGE }]
    const direct = { name: 'direct', url: `${upstreamUrl}/v1/chat/completions`, headers: { authorization: 'Bearer sk-bench' }, model: 'bench-model' }
    const viaFloor = { name: 'floor', url: `${String(floor.ready.url)}/v1/chat/completions`, headers: {}, model: 'bench-model' }
    const viaGateway = { name: 'gateway', url: `${gw.url}/v1/chat/completions`, headers: auth, model: MODEL }
    const sides = [direct, viaFloor, viaGateway]
    const body = (model: string, stream: boolean) => JSON.stringify({ model, messages, ...(stream ? { stream: true } : {}) })
    log(`passthrough: warm-up ${PLAN.warmupS} s each`)
    for (const side of sides)
      await runCannon({ url: side.url, headers: side.headers, body: () => body(side.model, false), connections: 1, durationS: PLAN.warmupS })

    for (const connections of [1, CONNECTIONS_HIGH]) {
      const rounds = connections === 1 ? Math.max(1, Math.round(PLAN.syncS / ROUND_S)) : 1
      const durationS = connections === 1 ? PLAN.syncS / rounds : PLAN.sync32S
      log(`passthrough: ${connections} connection(s), ${rounds} round(s) of ${durationS} s per side`)
      const results: Record<string, CannonResult[]> = { direct: [], floor: [], gateway: [] }
      for (let r = 0; r < rounds; r++)
        for (const side of sides)
          results[side.name]!.push(await runCannon({ url: side.url, headers: side.headers, body: () => body(side.model, false), connections, durationS }))
      const [d, f, g] = [poolCannon(results.direct!), poolCannon(results.floor!), poolCannon(results.gateway!)]
      if (g.non2xx || g.errors) errors.push(`passthrough ${connections} conn: ${g.non2xx} non-2xx, ${g.errors} errors ${JSON.stringify(g.statusCodes)}`)
      raw[`passthrough_${connections}`] = { gateway: withoutSamples(g), floor: withoutSamples(f), direct: withoutSamples(d) }
      if (connections === 1) {
        const over = median(results.gateway!.map((m, i) => m.latency.p50 - results.direct![i]!.latency.p50))
        const floorOver = median(results.floor!.map((m, i) => m.latency.p50 - results.direct![i]!.latency.p50))
        rows.push({
          scenario: 'pass-through chat (non-stream), 1 conn, p50',
          measured: `${f2(g.latency.p50)} ms (+${f2(over)})`,
          baseline: `direct ${f2(d.latency.p50)} ms; floor ${f2(f.latency.p50)} ms (+${f2(floorOver)})`,
          ratio: `${ratio(over, floorOver)} of the floor's overhead`,
          target: 'overhead ≤ 0.5 ms (≤ 1.5× the floor)',
          met: yes(over <= 0.5 || over <= 1.5 * floorOver),
        })
        rows.push({
          scenario: '  (same, p99)',
          measured: `${f2(g.latency.p99)} ms`,
          baseline: `direct ${f2(d.latency.p99)} ms; floor ${f2(f.latency.p99)} ms`,
          ratio: ratio(g.latency.p99, d.latency.p99),
          target: 'report',
          met: '—',
        })
      } else {
        rows.push({
          scenario: `pass-through chat (non-stream), ${connections} conns, req/s`,
          measured: f0(g.rps),
          baseline: `direct ${f0(d.rps)}; floor ${f0(f.rps)}`,
          ratio: ratio(g.rps, d.rps),
          target: '≥ 0.40× direct',
          met: yes(g.rps / d.rps >= 0.4),
        })
      }
    }

    log(`passthrough: ${PLAN.streams} sequential streams per side, time to the first chunk`)
    const rounds = Math.max(1, Math.round(PLAN.syncS / ROUND_S))
    const perRound = Math.ceil(PLAN.streams / rounds)
    const timings: Record<string, StreamTimings[]> = { direct: [], floor: [], gateway: [] }
    for (const side of sides)
      await timeStreams({ url: side.url, headers: side.headers, body: () => body(side.model, true), count: 50, maxDurationMs: 2000, kind: 'upstream' })
    for (let r = 0; r < rounds; r++)
      for (const side of sides)
        timings[side.name]!.push(
          await timeStreams({
            url: side.url,
            headers: side.headers,
            body: () => body(side.model, true),
            count: perRound,
            maxDurationMs: PLAN.streamMaxMs / rounds,
            kind: 'upstream',
          }),
        )
    const [d, f, g] = [poolStreams(timings.direct!), poolStreams(timings.floor!), poolStreams(timings.gateway!)]
    if (g.failures) errors.push(`passthrough stream: ${g.failures} failed gateway streams`)
    const over = median(timings.gateway!.map((m, i) => m.firstEvent.p50 - timings.direct![i]!.firstEvent.p50))
    const floorOver = median(timings.floor!.map((m, i) => m.firstEvent.p50 - timings.direct![i]!.firstEvent.p50))
    raw.passthrough_stream = {
      gatewayFirstChunkP50: g.firstEvent.p50,
      floorFirstChunkP50: f.firstEvent.p50,
      directFirstChunkP50: d.firstEvent.p50,
      over,
      floorOver,
    }
    rows.push({
      scenario: 'pass-through chat stream, time to first chunk, p50',
      measured: `${f2(g.firstEvent.p50)} ms (+${f2(over)})`,
      baseline: `direct ${f2(d.firstEvent.p50)} ms; floor ${f2(f.firstEvent.p50)} ms (+${f2(floorOver)})`,
      ratio: ratio(g.firstEvent.p50, d.firstEvent.p50),
      target: 'overhead ≤ 1 ms',
      met: yes(over <= 1),
    })
  } finally {
    await floor.stop()
    await stop(gw)
  }
}

async function main(): Promise<void> {
  const began = new Date()
  const t0 = performance.now()
  mkdirSync(LOGS, { recursive: true })
  if (flags.profile) mkdirSync(PROFILES, { recursive: true })
  log(`${flags.quick ? 'quick' : 'full'} run; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}; groups: ${[...only].join(', ')}`)

  if (!flags['no-build']) {
    log('building (turbo run build)')
    const b = spawnSync(join(ROOT, 'node_modules/.bin/turbo'), ['run', 'build', '--output-logs=errors-only'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    if (b.status !== 0) throw new Error('build failed (pnpm exec turbo run build)')
  }
  redisPid = await assertServices()
  const busyBefore = await cpuBusy(1000)
  const loadBefore = loadavg()
  log(`machine before the run: ${f0(busyBefore * 100)}% CPU busy, load ${loadBefore.map(f2).join(' ')}`)
  const stale = await dropStaleBenchDatabases()
  if (stale.length) log(`dropped ${stale.length} stale bench database(s)`)

  upstream = await forkIpc(join(ROOT, 'bench/lib/upstream-child.ts'))
  upstreamUrl = String(upstream.ready.url)
  db = await createBenchDatabase('srv')
  log(`bench database ${db.name}, redis prefix ${redis.prefix}, upstream ${upstreamUrl}`)

  try {
    if (want('cold')) await coldStart()
    if (want('sync') || want('stream')) await syncAndStream()
    if (want('async') || want('scale') || want('embedded')) await asyncScenarios()
    if (want('slow')) await slowConsumer()
    if (want('parse')) await parseCost()
    if (want('anthropic')) await anthropicSurface()
    if (want('passthrough')) await passthroughScenarios()
  } catch (err) {
    errors.push(`aborted: ${(err as Error).stack ?? String(err)}`)
    log(`ERROR ${(err as Error).stack ?? String(err)}`)
  } finally {
    await Promise.all([...live].map((p) => p.stop().catch(() => {})))
    live.clear()
    await upstream.stop().catch(() => {})
    await db.drop().catch((err) => log(`could not drop ${db!.name}: ${(err as Error).message}`))
    const deleted = await redis.cleanup().catch(() => -1)
    log(`cleanup: dropped ${db.name}, deleted ${deleted} Redis key(s) under ${redis.prefix}*`)
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
  }

  const table = printTable()
  const finished = new Date()
  const result = {
    startedAt: began.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (performance.now() - t0) / 1000,
    quick: flags.quick,
    profile: flags.profile,
    groups: [...only],
    machine: {
      busyBeforePct: busyBefore * 100,
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemMb: Math.round(totalmem() / 2 ** 20),
      freeMemMb: Math.round(freemem() / 2 ** 20),
      node: process.version,
    },
    git: gitInfo(),
    settings: {
      plan: PLAN,
      connectionsHigh: CONNECTIONS_HIGH,
      asyncSubmitConcurrency: ASYNC_SUBMIT_CONCURRENCY,
      workerConcurrency: WORKER_CONCURRENCY,
      dbPoolMax: DB_POOL_MAX,
      sessionTurns: SESSION_TURNS,
      model: MODEL,
      logLevel: flags['log-level'],
      gatewayEnv: EXTRA_ENV,
    },
    rows,
    raw,
    errors,
  }
  mkdirSync(RESULTS, { recursive: true })
  const file = join(RESULTS, `${began.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  // A profiled run's timings are not comparable: it never replaces latest.json.
  if (!flags.profile) writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`)

  const busyNote = busyBefore > 0.1 ? `, machine ${f0(busyBefore * 100)}% busy before the run: figures are skewed` : ''
  process.stdout.write(
    `\nOpenVesper bench (${flags.quick ? 'quick' : 'full'}${flags.profile ? ', PROFILED: timings not comparable' : ''}, ${cpus().length} CPUs, ${f0(result.durationS)} s${busyNote})\n\n${table}\n\n`,
  )
  if (errors.length) process.stdout.write(`problems:\n${errors.map((e) => `  - ${e}`).join('\n')}\n\n`)
  process.stdout.write(`results: ${file.slice(ROOT.length)}${flags.profile ? '' : ' (and bench/results/latest.json)'}\n`)

  if (flags.profile && existsSync(PROFILES)) {
    for (const name of readdirSync(PROFILES)
      .filter((n) => n.endsWith('.cpuprofile'))
      .sort()) {
      const proc = name.replace(/-\d+\.cpuprofile$/, '')
      if (proc.startsWith('cold-')) continue
      const skip = (startedProcs.get(proc) ?? 0) + 500
      process.stdout.write(`\n${formatProfile(summarizeProfile(join(PROFILES, name), 15, skip), 15)}\n`)
    }
    process.stdout.write(`\nprofiles: ${PROFILES.slice(ROOT.length)}\n`)
  }
  if (errors.length || flags['keep-logs'] || flags.profile) process.stdout.write(`gateway logs: ${LOGS.slice(ROOT.length)}\n`)
  else rmSync(LOGS, { recursive: true, force: true })
  process.exitCode = errors.length ? 1 : 0
}

await main()
