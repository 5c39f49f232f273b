import type { RunDeps } from './deps.js'
import type { EventItem, Fence, RunEvent } from './event-types.js'
import { RunStopped } from './stop.js'

/** Events the turn loop emits, written in batches: one statement (and one bus message) per flush. */
export interface EventWriter {
  /** Queues an event; waits only when too many are pending (backpressure). Throws once the fence is lost. */
  emit(type: RunEvent['type'], data: Record<string, unknown>): Promise<void>
  /** Stops flushing, waits for the batch being stored and hands over the events not stored yet (the caller stores them). */
  close(): Promise<EventItem[]>
  /** Publishes events the caller stored, after any stored event not published yet; resolves when all are published. */
  publish(stored: RunEvent[]): Promise<void>
}

const MAX_PENDING_EVENTS = 256
/**
 * How long the claim's run.started may wait to share a bus message with the run's next events. Most runs emit
 * output (or end) sooner, which saves a publication per run; a watcher of a slower run sees run.started this late.
 */
const STARTED_PUBLISH_DELAY_MS = 50

/**
 * `alreadyStored`: events the claim statement stored; they are published with the next batch, or after
 * STARTED_PUBLISH_DELAY_MS. A flush starts on the next turn of the event loop, so events emitted together (one
 * upstream chunk) share a statement, and a short run's events often go out with its terminal event in the
 * finish statement.
 */
export function createEventWriter(deps: Pick<RunDeps, 'events'>, runId: string, fence: Fence, alreadyStored: RunEvent[] = []): EventWriter {
  let pending: EventItem[] = []
  let flushing: Promise<void> | undefined
  let scheduled: NodeJS.Immediate | undefined
  let closed = false
  let failure: unknown
  // Publications are not awaited between batches (the bus keeps their order); publish() waits for the last one.
  let published: Promise<void> = Promise.resolve()
  let unpublished = [...alreadyStored]
  const publish = (events: RunEvent[]) => {
    const all = unpublished.length ? [...unpublished, ...events] : events
    unpublished = []
    if (carryTimer) clearTimeout(carryTimer)
    if (all.length) published = deps.events.publishMany(all)
  }
  const carryTimer: NodeJS.Timeout | undefined = unpublished.length ? setTimeout(() => publish([]), STARTED_PUBLISH_DELAY_MS) : undefined
  carryTimer?.unref()

  const drain = async () => {
    while (pending.length > 0 && !closed) {
      const batch = pending
      pending = []
      const stored = await deps.events.storeMany(runId, batch, fence)
      if (!stored) throw new RunStopped({ kind: 'lease_lost' })
      publish(stored)
    }
  }
  const kick = () => {
    scheduled = undefined
    if (flushing || failure || closed) return
    flushing = drain()
      .catch((err) => {
        failure = err
      })
      .finally(() => {
        flushing = undefined
        if (pending.length > 0) kick()
      })
  }
  const schedule = () => {
    if (!scheduled && !flushing) scheduled = setImmediate(kick)
  }
  return {
    async emit(type, data) {
      if (failure) throw failure
      pending.push({ type, data })
      if (pending.length >= MAX_PENDING_EVENTS) {
        kick()
        await flushing
      } else schedule()
    },
    async close() {
      closed = true
      if (scheduled) clearImmediate(scheduled)
      await flushing
      const rest = pending
      pending = []
      return rest
    },
    async publish(stored) {
      publish(stored)
      await published
    },
  }
}
