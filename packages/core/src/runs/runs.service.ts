import { isUniqueViolation, type RunMode, type RunRow, TERMINAL_RUN_STATUSES } from '@openvesper/db'
import { AppError, conflict, newId, notFound } from '@openvesper/shared'
import { createSessionsRepo, parseSessionKey, type QueueMode, resolveQueueMode } from '@openvesper/sessions'
import { DEFAULT_AGENT_ID } from '../agents.js'
import { RUN_EXECUTE_JOB, type RunDeps } from './deps.js'
import type { RunEvent } from './event-types.js'
import { type FollowOptions, RUN_CONTROL_CHANNEL } from './events.js'
import {
  agentModel,
  cancelRun,
  type ClaimedAttempt,
  createSteerInbox,
  executeRun,
  type ExecuteOutcome,
  type ExecuteResult,
  type SteerInbox,
} from './execute-run.js'
import { type CreatedRow, createRunsRepo, type NewRun } from './runs.repo.js'
import { createSessionQueue } from './session-queue.js'
import { createApprovalsRepo } from '../approvals/approvals.repo.js'
import { RunStopped } from './stop.js'

export interface RunPrincipal {
  id: string
}

export interface CreateRunInput {
  message: string
  agent?: string
  sessionKey?: string
  /** What this message does if its session is busy (overrides the session's and the agent's mode). */
  queueMode?: QueueMode
}

export interface CreateRunOptions {
  mode: RunMode
  idempotencyKey?: string
  requestId?: string
}

export interface CreatedRun {
  run: RunRow
  /** False when an earlier request with the same idempotency key created it. */
  created: boolean
  sessionKey: string | null
  /** A new inline run: claimed by this process, its run.started stored (hand it to `executeInline`). */
  attempt?: ClaimedAttempt
  /** How a busy session took the message: queued behind its active run, merged into a waiting one, or steered into the active run. */
  queued?: 'waiting' | 'collected' | 'steered'
}

export const isTerminalStatus = (status: string) => (TERMINAL_RUN_STATUSES as readonly string[]).includes(status)

/**
 * Creating, executing, observing and cancelling runs. Postgres is the authority; the queue carries
 * run ids only; the bus carries events and cancellation signals between processes.
 */
export function createRunsService(deps: RunDeps) {
  const { db, queue, bus, events, log } = deps
  const repo = createRunsRepo(db)
  const sessionQueue = createSessionQueue(db)
  /** Runs executing in this process, for cancellation signals from any instance. */
  const active = new Map<string, AbortController>()
  /** Messages steered into runs executing here, taken by their turn loop at its next model step. */
  const inboxes = new Map<string, SteerInbox>()
  let unsubscribeControl: (() => Promise<void>) | undefined
  /** Not awaited: the audit sink batches, and the run path does not wait for it. */
  const auditRun = (principalId: string, action: string, target: string, detail: Record<string, unknown>) =>
    void deps.audit
      ?.record({ principalId, action, target, outcome: 'success', detail })
      .catch((err) => log.warn({ err: (err as Error).message }, 'audit record failed'))

  async function sessionKeyOf(run: RunRow): Promise<string | null> {
    if (!run.sessionId) return null
    return (await createSessionsRepo(db).findById(run.sessionId))?.key ?? null
  }

  async function getOwned(principal: RunPrincipal, runId: string): Promise<RunRow> {
    const run = await repo.findById(runId)
    // Another principal's run is indistinguishable from a missing one.
    if (!run || run.principalId !== principal.id) throw notFound('run', runId)
    return run
  }

  async function create(principal: RunPrincipal, rawInput: CreateRunInput, options: CreateRunOptions, interrupts = 0): Promise<CreatedRun> {
    // The session key rule, as on every session route: the stored (NFC) form, or a 400 naming the rule.
    const input = rawInput.sessionKey === undefined ? rawInput : { ...rawInput, sessionKey: parseSessionKey(rawInput.sessionKey) }
    // A run in a session that names no agent runs the session's agent (POST /sessions/:key/agent switches it).
    const sessionAgent =
      input.sessionKey !== undefined && input.agent === undefined
        ? (await createSessionsRepo(db).findByKey(principal.id, input.sessionKey))?.agentId
        : undefined
    const agentId = input.agent ?? sessionAgent ?? DEFAULT_AGENT_ID
    if (!deps.agents.has(agentId))
      throw new AppError('invalid_request', `unknown agent '${agentId}'`, { details: { errors: [{ path: '/agent', message: 'no such agent' }] } })
    const idempotencyKey = options.idempotencyKey ?? null
    if (idempotencyKey) {
      const existing = await repo.findByIdempotencyKey(principal.id, idempotencyKey)
      if (existing) return replay(existing, input, options.mode)
    }
    const inline = options.mode !== 'async'
    let inserted: CreatedRow | undefined
    const base = {
      id: newId('run'),
      principalId: principal.id,
      agentId,
      sessionId: null,
      mode: options.mode,
      message: input.message,
      model: agentModel(deps.agents.get(agentId), deps.defaultModel).name,
      idempotencyKey,
      requestId: options.requestId ?? null,
      claimBy: inline ? { workerId: deps.workerId, leaseMs: deps.options.leaseMs } : undefined,
    }
    try {
      inserted = await repo.create(
        base,
        input.sessionKey ? { key: input.sessionKey, sessionId: newId('session'), messageId: newId('message'), withHistory: inline } : undefined,
      )
    } catch (err) {
      if (isUniqueViolation(err, 'runs_session_id_active_uq') && input.sessionKey !== undefined)
        return whenBusy(principal, { ...input, sessionKey: input.sessionKey }, options, base, interrupts)
      throw err
    }
    if (!inserted) {
      // Lost the race to a concurrent request with the same key: answer with its run.
      const existing = idempotencyKey ? await repo.findByIdempotencyKey(principal.id, idempotencyKey) : undefined
      if (existing) return replay(existing, input, options.mode)
      // Runs wait in the session: the message joins its queue.
      if (input.sessionKey !== undefined) return whenBusy(principal, { ...input, sessionKey: input.sessionKey }, options, base, interrupts)
      throw new AppError('internal', 'idempotent run vanished')
    }
    const { run, started, history } = inserted
    if (!inline) await enqueue(run.id)
    auditRun(principal.id, 'run.create', run.id, { mode: run.mode, agent: run.agentId })
    return { run, created: true, sessionKey: input.sessionKey ?? null, attempt: started ? { started, history } : undefined }
  }

  /**
   * The session has an active run: its queue mode decides (see `@openvesper/sessions` queue-modes). Every branch is
   * one statement the database orders; when the active run ended meanwhile, the message is created again normally.
   */
  async function whenBusy(
    principal: RunPrincipal,
    input: CreateRunInput & { sessionKey: string },
    options: CreateRunOptions,
    base: NewRun,
    interrupts: number,
  ): Promise<CreatedRun> {
    const sessionKey = input.sessionKey
    const session = await createSessionsRepo(db).findByKey(principal.id, sessionKey)
    const activeRun = session && (await sessionQueue.activeRun(session.id))
    // Nothing active any more: create it again (bounded, like interrupts, against a session that keeps changing).
    if (!session || !activeRun) {
      if (interrupts >= 3) throw new AppError('unavailable', `session '${sessionKey}' is changing too fast; retry`, { details: { retryAfterSeconds: 1 } })
      return create(principal, input, options, interrupts + 1)
    }
    const { mode } = resolveQueueMode({
      request: input.queueMode,
      session: session.queueMode,
      agent: deps.agents.get(base.agentId).queueMode,
      fallback: deps.options.sessionQueue.mode,
    })
    const busy = () =>
      new AppError('session_busy', `session '${sessionKey}' already has an active run (${activeRun.id}); wait for it or abort it`, {
        details: { activeRunId: activeRun.id },
      })
    if (mode === 'reject') throw busy()
    // Only runs wait (the active one just ended, the next is being promoted): nothing to interrupt or steer into.
    if (activeRun.waiting && (mode === 'interrupt' || mode === 'steer')) return enqueueWaiting(false)
    if (mode === 'interrupt') {
      // Bounded: a session that keeps getting busy again (other interrupting clients) answers like reject.
      if (interrupts >= 3) throw busy()
      await stopRun(activeRun.id, 'interrupted')
      return create(principal, input, options, interrupts + 1)
    }
    if (mode === 'steer' && activeRun.status === 'running') {
      const messageId = newId('message')
      if (await sessionQueue.steer(activeRun.id, messageId, input.message)) {
        await bus.publish(RUN_CONTROL_CHANNEL, JSON.stringify({ action: 'steer', runId: activeRun.id, messageId, text: input.message })).catch((err) => {
          log.warn({ runId: activeRun.id, err: (err as Error).message }, 'steer signal publish failed; the message is in the transcript for the next turn')
        })
        return { run: (await repo.findById(activeRun.id))!, created: false, sessionKey, queued: 'steered' }
      }
    }
    if (mode === 'collect') {
      const merged = await sessionQueue.collectInto(principal.id, sessionKey, input.message)
      if (merged) return { run: merged, created: false, sessionKey, queued: 'collected' }
    }
    return enqueueWaiting(mode === 'collect')

    async function enqueueWaiting(collect: boolean): Promise<CreatedRun> {
      const waiting = await sessionQueue.insertWaiting(
        { ...base, claimBy: undefined, sessionId: session!.id, sessionKey, collect },
        deps.options.sessionQueue.cap,
      )
      if (!waiting) {
        const existing = base.idempotencyKey ? await repo.findByIdempotencyKey(principal.id, base.idempotencyKey) : undefined
        if (existing) return replay(existing, input, options.mode)
        throw new AppError('session_queue_full', `session '${sessionKey}' already has ${deps.options.sessionQueue.cap} runs waiting; retry later`, {
          details: { activeRunId: activeRun!.id, retryAfterSeconds: 1 },
        })
      }
      // The active run may have ended between the failed create and this insert, before it could promote this one.
      await drain(session!.id)
      return { run: (await repo.findById(waiting.id)) ?? waiting, created: true, sessionKey, queued: 'waiting' }
    }
  }

  /** Starts the session's next waiting run if nothing else is active in it (any process may call it, any number of times). */
  async function drain(sessionId: string): Promise<void> {
    try {
      const next = await sessionQueue.promoteNext(sessionId, newId('message'), deps.options.sessionQueue.collectDebounceMs)
      if (next) await enqueue(next.run.id, undefined, next.delayMs)
    } catch (err) {
      // The waiting runs stay in the database: the reconciler promotes them.
      log.warn({ sessionId, err: (err as Error).message }, 'session queue promotion failed; the reconciler will retry')
    }
  }

  /** Cancels an active run in the database (and its pending approvals), then tells whichever process executes it. False when it had already ended. */
  async function stopRun(runId: string, reason: string): Promise<boolean> {
    if (!(await cancelRun(deps, runId, reason))) return false
    await createApprovalsRepo(db).cancelForRun(runId) // a waiting run's gates end with it
    active.get(runId)?.abort(new RunStopped({ kind: 'cancelled' }))
    await bus.publish(RUN_CONTROL_CHANNEL, JSON.stringify({ action: 'cancel', runId })).catch((err) => {
      log.warn({ runId, err: (err as Error).message }, 'cancel signal publish failed; the executor stops at its next write')
    })
    return true
  }

  async function replay(existing: RunRow, input: CreateRunInput, mode: RunMode): Promise<CreatedRun> {
    const sessionKey = await sessionKeyOf(existing)
    if (
      existing.input.message !== input.message ||
      // In a session, a request naming no agent runs the session's agent, which may have been switched since.
      (input.agent !== undefined || input.sessionKey === undefined ? existing.agentId !== (input.agent ?? DEFAULT_AGENT_ID) : false) ||
      existing.mode !== mode ||
      sessionKey !== (input.sessionKey ?? null)
    )
      throw conflict('this Idempotency-Key was already used with a different request', 'idempotency_conflict')
    return { run: existing, created: false, sessionKey }
  }

  /**
   * Sends the run to the queue. The first send uses the run id as job id (a duplicate send is a no-op); a re-send
   * after an attempt ended (released at shutdown, lease expired) needs its own job id, because the job of that
   * attempt may still be active — the releasing handler itself, or a dead worker's job until BullMQ's stalled
   * check — and the queue silently drops an id that is waiting, delayed or active.
   */
  async function enqueue(runId: string, afterAttempt?: number, delayMs = 0): Promise<void> {
    const jobId = afterAttempt === undefined ? runId : `${runId}_retry${afterAttempt}`
    try {
      await queue.add(RUN_EXECUTE_JOB, { runId }, delayMs > 0 ? { jobId, delayMs } : { jobId })
    } catch (err) {
      // The row is committed: the reconciler re-sends stale queued runs, so the run is not lost.
      log.warn({ runId, err: (err as Error).message }, 'enqueue failed; the reconciler will retry')
    }
  }

  async function execute(
    run: RunRow,
    attempt: ClaimedAttempt,
    signal?: AbortSignal,
    onSignal: 'client_gone' | 'shutdown' = 'shutdown',
  ): Promise<ExecuteResult> {
    const controller = new AbortController()
    active.set(run.id, controller)
    const inbox = run.sessionId ? createSteerInbox() : undefined
    if (inbox) inboxes.set(run.id, inbox)
    const onAbort = () => controller.abort(new RunStopped({ kind: onSignal }))
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const result = await executeRun(deps, run, controller, { ...attempt, inbox })
      // Handed back (shutdown): re-sent before this run stops counting as active, so stop() covers it.
      if (result.outcome === 'released') await enqueue(run.id, run.attempt)
      // Ended here: the session's next waiting run may start.
      else if (run.sessionId && result.outcome !== 'lost' && result.outcome !== 'paused') await drain(run.sessionId)
      return result
    } finally {
      signal?.removeEventListener('abort', onAbort)
      active.delete(run.id)
      inboxes.delete(run.id)
    }
  }

  /** Executes a run `create` just claimed for this process (sync or stream); `signal` is the caller's connection. */
  async function executeInline(created: CreatedRun, signal?: AbortSignal): Promise<ExecuteResult> {
    const { run, attempt } = created
    if (!attempt || run.status !== 'running' || run.leaseOwner !== deps.workerId) return { outcome: 'lost' }
    return execute(run, attempt, signal, 'client_gone')
  }

  return {
    create,
    getOwned,
    sessionKeyOf,
    executeInline,

    /**
     * Streams a run `create` just made and claimed for this process (stream mode): its run.started at once, then its
     * events from this process alone, the executor starting once the subscription listens, so nothing is read back
     * from the log. The run goes on when `signal` aborts (the client left).
     */
    followNew(created: CreatedRun, onEvent: (e: RunEvent) => void | Promise<void>, signal: AbortSignal) {
      const { run, attempt } = created
      if (!attempt) throw new Error(`followNew: run ${run.id} was not claimed by the create that made it`)
      void onEvent(attempt.started)
      const start = () => void executeInline(created).catch((err) => log.error({ err, runId: run.id }, 'inline run crashed'))
      return events.follow(run.id, attempt.started.seq, onEvent, signal, { fresh: true, onSubscribed: start })
    },

    /** The `run.execute` job: claim (fenced) and execute; a run that is not queued is discarded. */
    async executeQueued(runId: string, workerId: string, signal: AbortSignal): Promise<ExecuteOutcome | 'skipped'> {
      const claimed = await repo.claim(runId, workerId, deps.options.leaseMs)
      if (!claimed) return 'skipped'
      return (await execute(claimed.run, { started: claimed.started }, signal, 'shutdown')).outcome
    },

    /** Cancels an active run from any instance: the row first, then a signal to whichever process runs it. */
    async abort(principal: RunPrincipal, runId: string): Promise<RunRow> {
      const run = await getOwned(principal, runId)
      if (!(await stopRun(run.id, 'aborted'))) {
        const now = (await repo.findById(run.id))!
        if (now.status === 'cancelled') return now
        throw new AppError('run_not_cancellable', `run ${run.id} already ended with status ${now.status}`)
      }
      auditRun(principal.id, 'run.abort', run.id, {})
      // Not executing anywhere (waiting, queued, at an approval gate): nothing else would start the session's next run.
      if (run.sessionId && run.status !== 'running') await drain(run.sessionId)
      return (await repo.findById(run.id))!
    },

    /**
     * A synchronous caller's run to its end: executed here when `create` claimed it, else (a replay, a run waiting in
     * its busy session, a message steered into the active run) waited for. A waiting run the caller made is aborted
     * when the caller leaves (`signal`), as an inline run is cancelled.
     */
    async settle(principal: RunPrincipal, created: CreatedRun, signal: AbortSignal): Promise<RunRow> {
      if (created.attempt) {
        const { run } = await executeInline(created, signal)
        if (run) return run
      } else {
        await this.wait(principal, created.run.id, 3_600_000, signal)
        if (signal.aborted && created.queued === 'waiting') await this.abort(principal, created.run.id).catch(() => {})
      }
      return getOwned(principal, created.run.id)
    },

    /** Resolves when the run is terminal or `timeoutMs` passes; returns the run as it is then. */
    async wait(principal: RunPrincipal, runId: string, timeoutMs: number, signal?: AbortSignal): Promise<RunRow> {
      const run = await getOwned(principal, runId)
      if (isTerminalStatus(run.status)) return run
      const ctrl = new AbortController()
      const timer = setTimeout(() => ctrl.abort(), Math.min(timeoutMs, deps.options.waitTimeoutMaxMs))
      const onCaller = () => ctrl.abort()
      signal?.addEventListener('abort', onCaller, { once: true })
      try {
        // follow() ends on the terminal event, also when the run ended between the read above and its subscription.
        await events.follow(run.id, run.lastEventSeq, () => {}, ctrl.signal)
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onCaller)
      }
      return (await repo.findById(runId))!
    },

    /** Events after `afterSeq`, exactly once and in order, until the terminal event or `signal`. */
    follow(run: RunRow, afterSeq: number, onEvent: (e: RunEvent) => void | Promise<void>, signal: AbortSignal, options?: FollowOptions) {
      return events.follow(run.id, afterSeq, onEvent, signal, options)
    },

    /**
     * The `run.reconcile` job: expired leases go back to the queue (or fail with `worker_lost` once
     * attempts are spent); queued runs nobody took are sent again.
     */
    async reconcile(): Promise<{ requeued: number; failed: number; resent: number }> {
      // The new status and its event commit together: a run failed with worker_lost always has its run.failed
      // event (followers end on it), even when this process dies right after the update.
      const recovered = await repo.recoverExpired(deps.options.maxAttempts)
      for (const r of recovered) await events.publish(r.event)
      let requeued = 0
      let failed = 0
      for (const r of recovered) {
        if (r.status === 'queued') {
          requeued++
          await enqueue(r.id, r.attempt)
        } else failed++
      }
      const stale = await repo.touchStaleQueued(deps.options.staleQueuedMs)
      for (const id of stale) await enqueue(id)
      // Sessions whose promotion was lost with its process (killed between a run's end and the next one's start).
      for (const sessionId of await sessionQueue.stalledSessions()) await drain(sessionId)
      if (recovered.length || stale.length) log.info({ requeued, failed, resent: stale.length }, 'runs reconciled')
      return { requeued, failed, resent: stale.length }
    },

    /** Embedded mode restart: every queued run goes back on the in-process queue. */
    async resumeQueued(): Promise<number> {
      const ids = await repo.listQueuedIds()
      for (const id of ids) await enqueue(id)
      return ids.length
    },

    /** Listens for cancellation signals from other instances. */
    async start(): Promise<void> {
      unsubscribeControl = await bus.subscribe(RUN_CONTROL_CHANNEL, (message) => {
        const signal = JSON.parse(message) as { action: string; runId: string; messageId?: string; text?: string }
        if (signal.action === 'cancel') active.get(signal.runId)?.abort(new RunStopped({ kind: 'cancelled' }))
        else if (signal.action === 'steer' && signal.messageId && typeof signal.text === 'string')
          inboxes.get(signal.runId)?.push({ id: signal.messageId, text: signal.text })
      })
    },

    /**
     * Hands runs still executing here (inline ones; the worker host already drained its jobs) back to the
     * queue instead of leaving them to the lease timeout, then stops listening for cancellations.
     */
    async stop(graceMs = 5000): Promise<void> {
      for (const controller of active.values()) controller.abort(new RunStopped({ kind: 'shutdown' }))
      const deadline = Date.now() + graceMs
      while (active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      await unsubscribeControl?.()
    },
  }
}
export type RunsService = ReturnType<typeof createRunsService>
