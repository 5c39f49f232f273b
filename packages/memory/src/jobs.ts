/**
 * Memory's job catalog and its handlers: `memory.embed` embeds pending entries in batches (enqueued after an insert
 * commits, so the provider is never called inside a request's transaction), `memory.purge` deletes expired entries
 * and sweeps pending embeddings a failed job left behind (every `purgeIntervalMs`).
 */
import { defineJobMount, defineJobs, job, type JobMount, scheduledJob } from '@openvesper/queue'

const MEMORY_EMBED_JOB = 'memory.embed'
const MEMORY_PURGE_JOB = 'memory.purge'
const MEMORY_PURGE_SCHEDULER = 'memory-purge'

export const memoryJobs = defineJobs({
  [MEMORY_EMBED_JOB]: job<Record<never, never>>(),
  [MEMORY_PURGE_JOB]: scheduledJob(),
})
export type MemoryJobs = typeof memoryJobs

export interface MemoryJobTarget {
  embedPending(signal?: AbortSignal): Promise<number>
  purgeExpired(): Promise<number>
}

export function createMemoryJobMount(memory: MemoryJobTarget, options: { purgeIntervalMs: number }): JobMount {
  return defineJobMount({
    owner: 'memory',
    catalog: memoryJobs,
    handlers: {
      [MEMORY_EMBED_JOB]: async (_payload, ctx) => {
        await memory.embedPending(ctx.signal)
      },
      [MEMORY_PURGE_JOB]: async (_payload, ctx) => {
        await memory.purgeExpired()
        await memory.embedPending(ctx.signal)
      },
    },
    schedules: [{ id: MEMORY_PURGE_SCHEDULER, job: MEMORY_PURGE_JOB, everyMs: options.purgeIntervalMs }],
  })
}
