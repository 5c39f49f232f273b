import { type Db, rawSql, TERMINAL_RUN_STATUSES } from '@openvesper/db'
import type { EventBus } from '@openvesper/queue'
import type { Logger } from '@openvesper/shared'
import { appendEventsSql, numberedEvents, toIso } from './event-sql.js'
import { type EventItem, type Fence, isTerminalEvent, type RunEvent, type RunEventType } from './event-types.js'

export const runChannel = (runId: string) => `run:${runId}`
export const RUN_CONTROL_CHANNEL = 'runs:control'

/** A bus message on a run channel: a JSON array of events (one batch). */
export function parseEventMessage(message: string): RunEvent[] {
  const parsed = JSON.parse(message) as RunEvent | RunEvent[]
  return Array.isArray(parsed) ? parsed : [parsed]
}

const storeSql = (fenced: boolean) => `
  with u as (
    update runs set last_event_seq = last_event_seq + $2::int
    where id = $1${fenced ? ` and attempt = $4 and status = 'running'` : ''}
    returning last_event_seq
  ) ${appendEventsSql('$1', '$3', '$2')}`
const STORE_SQL = storeSql(false)
const STORE_FENCED_SQL = storeSql(true)

export interface FollowOptions {
  /** How long the bus may stay quiet before the stored log is read (a lost publication's longest delay). */
  pollMs?: number
  /** Called once the subscription is active: start the producer here when using `fresh`. */
  onSubscribed?: () => void
  /**
   * Nothing after `afterSeq` can have been published before the subscription, and the run executes in this
   * process (the caller starts its executor in `onSubscribed`): skip the initial read of the stored log, and
   * listen to this process's publications only (in server mode no Redis subscription; should another process
   * take the run over, the log poll delivers its events).
   */
  fresh?: boolean
  /**
   * Bytes of bus messages that may wait for a slow `onEvent` (default 1 MiB). Past it, live messages are dropped and
   * the follower catches up from the stored log once `onEvent` is ready again: a slow consumer costs reads, not memory.
   */
  maxBacklogBytes?: number
}

/** How a follow went: events delivered, and how many of them were read from the stored log rather than the bus. */
export interface FollowResult {
  delivered: number
  fromLog: number
}

const DEFAULT_MAX_BACKLOG_BYTES = 1024 * 1024

export interface RunEventsDeps {
  db: Db
  bus: EventBus
  log: Logger
}

export function createRunEvents(deps: RunEventsDeps) {
  const { bus, log } = deps
  const raw = rawSql(deps.db)

  /** Publishes stored events as one bus message (a JSON array), after they were stored (and committed). */
  async function publishMany(events: RunEvent[]): Promise<void> {
    if (events.length === 0) return
    try {
      await bus.publish(runChannel(events[0]!.runId), JSON.stringify(events))
    } catch (err) {
      // Subscribers also poll the stored log, so a lost publication delays delivery but loses nothing.
      log.warn({ runId: events[0]!.runId, seq: events[0]!.seq, err: (err as Error).message }, 'run event publish failed')
    }
  }
  const publish = (event: RunEvent) => publishMany([event])

  /**
   * Stores the next events of a run in one statement (sequence numbers reserved on the run row) and returns
   * them, or `undefined` when the fence no longer holds (the run was cancelled, finished or re-claimed).
   * Publish them after.
   */
  async function storeMany(runId: string, items: readonly EventItem[], fence?: Fence): Promise<RunEvent[] | undefined> {
    const k = items.length
    if (k === 0) return []
    const rows = await raw.query<{ seq: number; created_at: unknown }>(fence ? STORE_FENCED_SQL : STORE_SQL, [
      runId,
      k,
      JSON.stringify(items),
      ...(fence ? [fence.attempt] : []),
    ])
    return rows.length === 0 ? undefined : numberedEvents(runId, items, rows)
  }

  async function list(runId: string, afterSeq: number, limit = 1000): Promise<RunEvent[]> {
    const rows = await raw.query<{ seq: number; type: string; data: Record<string, unknown>; created_at: unknown }>(
      'select seq, type, data, created_at from run_events where run_id = $1 and seq > $2 order by seq limit $3',
      [runId, afterSeq, limit],
    )
    return rows.map((r) => ({ runId, seq: Number(r.seq), type: r.type as RunEventType, data: r.data, createdAt: toIso(r.created_at) }))
  }

  /** True when the run is terminal and has no event after `seq`. */
  async function endedBefore(runId: string, seq: number): Promise<boolean> {
    const [row] = await raw.query<{ status: string; last_event_seq: number }>('select status, last_event_seq from runs where id = $1', [runId])
    return !row || ((TERMINAL_RUN_STATUSES as readonly string[]).includes(row.status) && Number(row.last_event_seq) <= seq)
  }

  /**
   * The safety net for lost publications, one per process (not a poll per follower): followers whose bus has been
   * quiet for their `pollMs` are checked together in one statement per tick, and only a follower whose run has an
   * event it has not seen, or has ended, reads the log. No follower waiting: no timer, no query.
   */
  interface Quiet {
    runId: string
    pollMs: number
    /** The last sequence number delivered. */
    last(): number
    /** When the follower last heard from the bus (or was last checked). */
    heardAt(): number
    /** Reads the log (the run moved on or ended). */
    wake(): void
    /** Checked now, with nothing to read. */
    checked(): void
  }
  const quiet = new Set<Quiet>()
  let sweepTimer: NodeJS.Timeout | undefined
  let sweepEvery = 0
  let sweeping = false
  const sweep = async () => {
    if (sweeping) return
    const now = Date.now()
    const due = [...quiet].filter((q) => now - q.heardAt() >= q.pollMs)
    if (due.length === 0) return
    sweeping = true
    try {
      const ids = [...new Set(due.map((q) => q.runId))]
      const rows = await raw.query<{ id: string; status: string; last_event_seq: number }>(
        'select id, status, last_event_seq from runs where id in (select jsonb_array_elements_text($1::jsonb))',
        [JSON.stringify(ids)],
      )
      const byId = new Map(rows.map((r) => [r.id, r]))
      for (const q of due) {
        if (!quiet.has(q)) continue
        const row = byId.get(q.runId)
        const moved = !row || Number(row.last_event_seq) > q.last() || (TERMINAL_RUN_STATUSES as readonly string[]).includes(row.status)
        if (moved) q.wake()
        else q.checked()
      }
    } catch (err) {
      log.warn({ err: (err as Error).message, followers: due.length }, 'run event followers: log check failed; retrying')
    } finally {
      sweeping = false
    }
  }
  const watchQuiet = (q: Quiet): (() => void) => {
    quiet.add(q)
    if (!sweepTimer || q.pollMs < sweepEvery) {
      if (sweepTimer) clearInterval(sweepTimer)
      sweepEvery = q.pollMs
      sweepTimer = setInterval(() => void sweep(), sweepEvery)
      sweepTimer.unref()
    }
    return () => {
      quiet.delete(q)
      if (quiet.size === 0 && sweepTimer) {
        clearInterval(sweepTimer)
        sweepTimer = undefined
      }
    }
  }

  return {
    storeMany,
    publish,
    publishMany,
    list,

    /**
     * Delivers every event after `afterSeq` exactly once and in order: subscribes first, replays the
     * stored log, then tails the bus, filling any gap from the log and polling it as a safety net.
     * Resolves after the terminal event was delivered, or when `signal` aborts.
     */
    async follow(
      runId: string,
      afterSeq: number,
      onEvent: (e: RunEvent) => void | Promise<void>,
      signal: AbortSignal,
      options: FollowOptions = {},
    ): Promise<FollowResult> {
      const pollMs = options.pollMs ?? 1000
      const maxBacklogBytes = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES
      const result: FollowResult = { delivered: 0, fromLog: 0 }
      let last = afterSeq
      let done = false
      let chain = Promise.resolve()
      let finish!: () => void
      const finished = new Promise<void>((resolve) => (finish = resolve))

      const deliver = async (e: RunEvent) => {
        last = e.seq
        result.delivered++
        await onEvent(e)
        if (isTerminalEvent(e.type)) {
          done = true
          finish()
        }
      }
      const deliverUpTo = async (upTo?: number) => {
        if (done) return
        for (;;) {
          const batch = await list(runId, last, 500)
          for (const e of batch) {
            if (done || e.seq !== last + 1) return
            if (upTo !== undefined && e.seq > upTo) return
            result.fromLog++
            await deliver(e)
          }
          if (batch.length === 0 && (await endedBefore(runId, last))) {
            // The run ended and the cursor is already at (or past) its terminal event: nothing more will come.
            done = true
            finish()
          }
          if (batch.length < 500) return
        }
      }
      const deliverLive = async (e: RunEvent) => {
        if (done || e.seq <= last) return
        if (e.seq > last + 1) await deliverUpTo(e.seq - 1) // a gap: fetch the missing events from the log
        if (done || e.seq !== last + 1) return
        await deliver(e)
      }
      const enqueue = (task: () => Promise<void>) => {
        chain = chain.then(task).catch((err) => {
          log.warn({ runId, err: (err as Error).message }, 'run event delivery failed')
          done = true
          finish()
        })
      }

      let lastMessageAt = Date.now()
      /** Bytes of bus messages queued for delivery, and whether live messages are being dropped (catching up from the log). */
      let backlog = 0
      let lagging = false
      const unsubscribe = await bus.subscribe(
        runChannel(runId),
        (message) => {
          lastMessageAt = Date.now()
          if (lagging) return
          if (backlog > 0 && backlog + message.length > maxBacklogBytes) {
            lagging = true
            enqueue(async () => {
              lagging = false
              await deliverUpTo()
            })
            return
          }
          backlog += message.length
          const events = parseEventMessage(message)
          enqueue(async () => {
            try {
              for (const e of events) await deliverLive(e)
            } finally {
              backlog -= message.length
            }
          })
        },
        { local: options.fresh === true },
      )
      // Safety net for lost publications: the process's sweep reads the log when the bus has been quiet for a while.
      const unwatch = watchQuiet({
        runId,
        pollMs,
        last: () => last,
        heardAt: () => lastMessageAt,
        wake: () => {
          lastMessageAt = Date.now()
          enqueue(() => deliverUpTo())
        },
        checked: () => {
          lastMessageAt = Date.now()
        },
      })
      const onAbort = () => {
        done = true
        finish()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        options.onSubscribed?.()
        if (!options.fresh) enqueue(() => deliverUpTo())
        if (!signal.aborted) await finished
      } finally {
        unwatch()
        signal.removeEventListener('abort', onAbort)
        await unsubscribe().catch(() => {})
        await chain
      }
      return result
    },
  }
}
export type RunEvents = ReturnType<typeof createRunEvents>
