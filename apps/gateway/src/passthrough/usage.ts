import type { ModelUsageRepo } from '@openvesper/core'
import type { NewModelUsageRow } from '@openvesper/db'
import type { Logger } from '@openvesper/shared'

/**
 * Asynchronous, batched usage accounting for pass-through calls: `record()` only appends to memory (no I/O on the
 * request path); a timer writes what gathered as one multi-row insert every `flushMs`, or sooner once `maxBatch`
 * rows wait. One write at a time; a failed write is logged and its rows dropped (accounting never blocks or
 * fails a model call), and at most `maxPending` rows wait (beyond that the oldest are dropped, counted in the log).
 */
export interface UsageRecorder {
  record(row: NewModelUsageRow): void
  /** Writes everything recorded so far (tests, shutdown). */
  flush(): Promise<void>
  /** Stops the timer and writes what is left. */
  stop(): Promise<void>
}

export function createUsageRecorder(options: { repo: ModelUsageRepo; log: Logger; flushMs?: number; maxBatch?: number; maxPending?: number }): UsageRecorder {
  const { repo, log, flushMs = 1000, maxBatch = 500, maxPending = 50_000 } = options
  let pending: NewModelUsageRow[] = []
  let writing: Promise<void> = Promise.resolve()
  let dropped = 0
  let timer: NodeJS.Timeout | undefined

  const writeBatch = async () => {
    while (pending.length > 0) {
      const batch = pending.slice(0, maxBatch)
      pending = pending.slice(batch.length)
      try {
        await repo.insertMany(batch)
      } catch (err) {
        log.error({ err, rows: batch.length }, 'pass-through usage batch not written')
      }
    }
    if (dropped > 0) {
      log.warn({ dropped }, 'pass-through usage rows dropped: the recorder was full')
      dropped = 0
    }
  }
  const flush = () => {
    writing = writing.then(writeBatch)
    return writing
  }
  const schedule = () => {
    if (timer) return
    timer = setTimeout(() => {
      timer = undefined
      void flush()
    }, flushMs)
    timer.unref()
  }

  return {
    record(row) {
      if (pending.length >= maxPending) {
        pending.shift()
        dropped++
      }
      pending.push(row)
      if (pending.length >= maxBatch) void flush()
      else schedule()
    },
    flush,
    async stop() {
      if (timer) clearTimeout(timer)
      timer = undefined
      await flush()
    },
  }
}
