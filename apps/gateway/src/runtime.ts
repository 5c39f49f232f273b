import { createTokensService } from '@openvesper/access'
import { createAuditService } from '@openvesper/audit'
import type { Config, Role } from '@openvesper/config'
import {
  agentModel,
  builtinTools,
  createApprovalPolicy,
  createApprovalsService,
  coreJobs,
  createProviderRegistry,
  createRunEvents,
  createRunsService,
  createToolRegistry,
  loadAgents,
  type RunDeps,
} from '@openvesper/core'
import { createDb, describeUrl, migrate, type PgliteWasm } from '@openvesper/db'
import {
  createInProcessCounterStore,
  createInProcessEventBus,
  createInProcessQueue,
  createJobProducer,
  createLocalFirstEventBus,
  type CounterStore,
  type EventBus,
  type JobQueue,
  type WorkerHost,
} from '@openvesper/queue'
import {
  createCommitmentsService,
  createHeartbeatService,
  createQueueWakeUps,
  createStandingOrdersService,
  createTasksService,
  type StartRun,
} from '@openvesper/scheduler'
import { createSessionsService } from '@openvesper/sessions'
import { createEmbeddingsClient, createMemoryContextSource, createMemoryService, createMemoryTools, memoryJobs } from '@openvesper/memory'
import { type Logger, newId, systemClock } from '@openvesper/shared'
import { createFailureBook } from './rate-limit/index.js'
import { createPassthrough } from './passthrough/index.js'
import { loadApprovalRules } from './approval-rules.js'
import type { Services } from './services.js'
import { jobMounts, mountWorkers } from './workers.js'
import { checkRedisEviction } from './redis-policy.js'

export interface RuntimeInfo {
  mode: 'embedded' | 'server'
  workerId: string
  defaultModel: string
}

/** What the embedded mode needs to know about how it was started. */
export interface RuntimeOptions {
  /** Print the generated bootstrap token (embedded, no OPENVESPER_TOKEN). */
  onGeneratedToken?: (token: string) => void
  /** PGlite's WebAssembly, compiled ahead by main.ts (compilePgliteWasm). */
  pgliteWasm?: PgliteWasm
}

/**
 * The composition root: the one place where packages meet. Construction does no I/O (it only loads the Redis
 * adapters, in server mode: the embedded mode never loads bullmq or ioredis); `start(role)` connects and starts
 * workers; `stop()` undoes it in reverse order.
 */
export async function createRuntime(config: Config, log: Logger, options: RuntimeOptions = {}) {
  const redis = config.redis.url ? { url: config.redis.url, adapters: await import('@openvesper/queue/redis') } : undefined
  const clock = systemClock
  const server = Boolean(config.database.url && config.redis.url)
  const workerId = newId('worker')
  const dbHandle = config.database.url
    ? createDb({ kind: 'postgres', url: config.database.url, max: config.database.poolMax })
    : createDb({ kind: 'pglite', dataDir: config.database.dataDir, wasmModule: options.pgliteWasm })
  const db = dbHandle.db
  const queue: JobQueue = redis ? redis.adapters.createBullmqQueue({ redisUrl: redis.url, prefix: config.redis.prefix, log }) : createInProcessQueue({ log })
  // Server mode: this process's subscribers get its own events without the Redis round trip; others via Redis.
  const bus: EventBus = redis
    ? createLocalFirstEventBus(redis.adapters.createRedisEventBus({ redisUrl: redis.url, prefix: config.redis.prefix, log }), { instanceId: workerId, log })
    : createInProcessEventBus()
  // Rate-limit counters: in Redis every gateway on the prefix shares them; in-process they are this process's own.
  const counters: CounterStore = redis
    ? redis.adapters.createRedisCounterStore({ redisUrl: redis.url, prefix: config.redis.prefix, log })
    : createInProcessCounterStore()

  // Scheduled runs (task ticks, commitment follow-ups) are async runs of their principal; the firing's key makes a
  // second start of the same tick a no-op. `runs` is bound later in this function; this is called only once started.
  const startScheduledRun: StartRun = async (input) => {
    const created = await runs.create(
      { id: input.principalId },
      { message: input.message, agent: input.agentId, ...(input.sessionKey ? { sessionKey: input.sessionKey } : {}) },
      { mode: 'async', idempotencyKey: input.idempotencyKey },
    )
    return { runId: created.run.id }
  }
  const commitments = createCommitmentsService({ db, startRun: startScheduledRun, agentExists: (id) => agents.has(id), log })
  // Memory reads agent settings through these closures (the agents file is loaded after the registry it is checked against).
  const agentMemory = (id: string) => {
    const m = agents.has(id) ? agents.get(id).memory : undefined
    return { inject: m?.inject ?? 0, sharedWith: m?.sharedWith ?? [] }
  }
  const mem = config.memory
  const memory = createMemoryService({
    db,
    jobs: createJobProducer(queue, memoryJobs),
    clock,
    log,
    agents: { has: (id) => agents.has(id), memory: agentMemory },
    options: {
      tsConfig: mem.textSearchConfig,
      dedupe: mem.dedupe,
      embedBatch: mem.embeddingsBatch,
      purgeIntervalMs: mem.purgeIntervalMs,
      embeddings: mem.embeddingsUrl
        ? createEmbeddingsClient({
            baseUrl: mem.embeddingsUrl,
            apiKey: mem.embeddingsApiKey,
            model: mem.embeddingsModel,
            dimension: mem.embeddingsDimension,
            batchSize: mem.embeddingsBatch,
            maxRetries: config.upstream.maxRetries,
            retryMaxDelayMs: config.upstream.retryMaxDelayMs,
            timeoutMs: config.upstream.timeoutMs,
          })
        : undefined,
    },
  })
  const tools = createToolRegistry([...builtinTools, ...commitments.tools, ...createMemoryTools(memory)])
  const agents = loadAgents(config.agents.configPath, tools.names())
  const up = config.upstream
  const defaultModel = up.model ?? (up.openaiApiKey ? 'openai/gpt-4o-mini' : up.anthropicApiKey ? 'anthropic/claude-sonnet-4-5' : 'echo')
  const providers = createProviderRegistry({
    openai: { baseUrl: up.openaiBaseUrl, apiKey: up.openaiApiKey ?? '', timeoutMs: up.timeoutMs },
    anthropic: { baseUrl: up.anthropicBaseUrl, apiKey: up.anthropicApiKey ?? '', timeoutMs: up.timeoutMs },
    retry: { maxRetries: up.maxRetries, maxDelayMs: up.retryMaxDelayMs },
  })
  const events = createRunEvents({ db, bus, log })
  const standingOrders = createStandingOrdersService({ db, agentExists: (id) => agents.has(id) })
  const audit = createAuditService({ db, clock, log })
  const policy = createApprovalPolicy({ db, bus, log, defaultAction: config.approvals.defaultAction, ttlMs: config.approvals.ttlMs })
  const runDeps: RunDeps = {
    db,
    queue: createJobProducer(queue, coreJobs),
    bus,
    events,
    agents,
    tools,
    providers,
    contextSources: [standingOrders.contextSource, createMemoryContextSource(memory, agentMemory)],
    defaultModel,
    clock,
    log,
    workerId,
    approvals: policy,
    audit: audit.sink,
    options: {
      leaseMs: config.runs.leaseMs,
      maxAttempts: config.runs.maxAttempts,
      maxSteps: config.runs.maxSteps,
      staleQueuedMs: config.runs.staleQueuedMs,
      waitTimeoutMaxMs: config.runs.waitTimeoutMaxMs,
      sessionQueue: { mode: config.sessions.queueMode, cap: config.sessions.queueCap, collectDebounceMs: config.sessions.collectDebounceMs },
    },
  }
  const runs = createRunsService(runDeps)
  const sessions = createSessionsService({
    db,
    agents,
    queue: { mode: config.sessions.queueMode, cap: config.sessions.queueCap, agentMode: (id) => (agents.has(id) ? agents.get(id).queueMode : undefined) },
    agentContext: (id) => {
      const agent = agents.has(id) ? agents.get(id) : undefined
      return { model: agentModel(agent ?? {}, defaultModel).name, contextWindow: agent?.contextWindow, systemPrompt: agent?.systemPrompt }
    },
  })
  const tokens = createTokensService({ db, clock, cacheMs: config.auth.cacheMs, bus, log, audit: audit.sink })
  // Server mode: gateways tell each other about clients that used up their failed-authentication budget.
  const failures = redis ? createFailureBook({ bus, log }) : undefined
  const limits = { counters, requests: config.limits.requests, authFailures: config.limits.authFailures, failures }
  const approvals = createApprovalsService({ db, bus, events, queue: runDeps.queue, policy, log, audit: audit.sink })
  const passthrough = createPassthrough({ config, providers, db, log })
  const tasks = createTasksService({
    db,
    startRun: startScheduledRun,
    wakeUps: createQueueWakeUps(queue),
    agentExists: (id) => agents.has(id),
    log,
    options: config.scheduler,
  })
  const heartbeat = createHeartbeatService({
    db,
    log,
    // Re-reads the agents file on every reload: a changed interval or instructions apply without a restart.
    load: () =>
      loadAgents(config.agents.configPath, tools.names())
        .list()
        .flatMap((a) => (a.heartbeat ? [{ agentId: a.id, everyMs: a.heartbeat.everyMs, instructions: a.heartbeat.instructions }] : [])),
    onChanged: (taskId) => tasks.rearm(taskId),
  })
  const services: Services = {
    tokens,
    runs,
    sessions,
    agents,
    limits,
    models: { defaultModel },
    providers,
    passthrough,
    tasks,
    standingOrders,
    commitments,
    heartbeat,
    approvals,
    audit,
    memory,
  }
  const info: RuntimeInfo = { mode: server ? 'server' : 'embedded', workerId, defaultModel }
  let workers: WorkerHost | undefined
  let started = false

  return {
    services,
    info,
    db: dbHandle,
    queue,
    async start(role: Role): Promise<void> {
      log.info(
        {
          mode: info.mode,
          role,
          database: config.database.url ? describeUrl(config.database.url) : `pglite:${config.database.dataDir}`,
          queue: queue.kind,
          events: bus.kind,
          limits: counters.kind,
        },
        server ? 'server mode: Postgres + BullMQ on Redis' : 'embedded mode: PGlite + in-process queue and events',
      )
      if (!up.model && defaultModel === 'echo') log.info('no OPENVESPER_MODEL and no provider key: agents use the offline echo model')
      await dbHandle.ping()
      if (config.database.migrateOnStart) await migrate(dbHandle, log)
      await memory.start()
      await queue.start()
      if (config.redis.url) await checkRedisEviction(config.redis.url, log)
      await bus.start()
      if (role !== 'worker') {
        await counters.start() // only HTTP roles count requests
        await failures?.start()
        await tokens.start()
        const { generated } = await tokens.ensureBootstrap(config.auth.bootstrapToken, { generateIfMissing: !server })
        if (generated) options.onGeneratedToken?.(generated)
      }
      await runs.start()
      await heartbeat.reload()
      await policy.start()
      if (config.approvals.rulesPath) await approvals.seedRules(loadApprovalRules(config.approvals.rulesPath))
      if (role !== 'api') {
        workers = await mountWorkers({
          queue,
          mounts: jobMounts({
            runs,
            approvals,
            reconcileIntervalMs: config.runs.reconcileIntervalMs,
            scheduler: { tasks, commitments, sweepMs: config.scheduler.sweepMs },
            memory,
            memoryPurgeIntervalMs: mem.purgeIntervalMs,
          }),
          workerId,
          concurrency: config.runs.workerConcurrency,
          log,
        })
        if (!server) await runs.resumeQueued()
      }
      started = true
    },
    async stop(graceMs = config.server.shutdownGraceMs): Promise<void> {
      if (!started) return
      started = false
      await workers?.close(graceMs)
      await runs.stop()
      await policy.stop()
      await tokens.stop()
      await failures?.stop()
      await queue.close()
      await bus.close()
      await counters.close()
      await passthrough.stop()
      await providers.close()
      await dbHandle.close()
    },
  }
}
export type Runtime = Awaited<ReturnType<typeof createRuntime>>
