import { coreJobs, RUN_EXECUTE_JOB, RUN_RECONCILE_JOB, type RunJobTarget } from '@openvesper/core'
import { createInProcessQueue, defineJobs, job, type JobMount, type JobQueue, scheduledJob } from '@openvesper/queue'
import { silentLogger } from '@openvesper/shared'
import { waitFor } from '@openvesper/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { jobMounts, mountWorkers } from '../../src/workers.js'

const noop = async () => {}

/** A runs service stand-in that records what the job handlers call. */
function recordingRuns(): RunJobTarget & { calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    async executeQueued(runId, workerId) {
      calls.push(`execute ${runId} on ${workerId}`)
    },
    async reconcile() {
      calls.push('reconcile')
    },
  }
}

describe('mountWorkers', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function startQueue(): Promise<JobQueue> {
    const queue = createInProcessQueue()
    cleanups.push(() => queue.close())
    await queue.start()
    return queue
  }

  const mount = (over: Partial<JobMount> = {}): JobMount => ({
    owner: 'mail',
    catalog: defineJobs({ 'mail.send': job<{ to: string }>(), 'mail.prune': scheduledJob() }),
    handlers: { 'mail.send': noop, 'mail.prune': noop },
    schedules: [],
    ...over,
  })

  it("mounts every job of core's catalog, runs its handlers and registers the reconciler's scheduler", async () => {
    const queue = await startQueue()
    const runs = recordingRuns()
    const mounts = jobMounts({ runs, reconcileIntervalMs: 60_000 })
    expect(mounts.flatMap((m) => Object.keys(m.catalog))).toEqual(expect.arrayContaining(Object.keys(coreJobs)))
    const host = await mountWorkers({ queue, mounts, workerId: 'worker_mount', concurrency: 2, log: silentLogger })
    cleanups.push(() => host.close(100))

    expect(await queue.schedulers()).toMatchObject([{ id: 'runs-reconcile', name: RUN_RECONCILE_JOB, every: 60_000 }])
    await queue.enqueue(RUN_EXECUTE_JOB, { runId: 'run_mount1' }, { jobId: 'run_mount1' })
    await waitFor(() => runs.calls.includes('execute run_mount1 on worker_mount') && runs.calls.includes('reconcile'), {
      what: 'the run.execute job and the first reconcile tick',
    })
  })

  it('fails the start, naming the job and the fix, when a job of a mounted catalog has no handler', async () => {
    const queue = await startQueue()
    const mounts = [...jobMounts({ runs: recordingRuns(), reconcileIntervalMs: 60_000 }), mount({ handlers: { 'mail.send': noop } })]
    await expect(mountWorkers({ queue, mounts, workerId: 'w', concurrency: 1, log: silentLogger })).rejects.toThrow(
      /cannot start the workers: job handlers do not match the job catalogs:\n {2}- job 'mail.prune' \(mail\) has no handler; add one to mail's job handlers/,
    )
    // Nothing was started: no host takes the job, no scheduler is registered.
    expect(await queue.schedulers()).toEqual([])
  })

  it('fails the start when a handler is for a job no mounted catalog declares', async () => {
    const queue = await startQueue()
    const mounts = [mount({ handlers: { 'mail.send': noop, 'mail.prune': noop, 'mail.bounce': noop } })]
    await expect(mountWorkers({ queue, mounts, workerId: 'w', concurrency: 1, log: silentLogger })).rejects.toThrow(
      /mail has a handler for 'mail.bounce', which its job catalog does not declare; add it to the catalog or remove the handler/,
    )
  })

  it('fails the start when two packages claim the same job name', async () => {
    const queue = await startQueue()
    const core = jobMounts({ runs: recordingRuns(), reconcileIntervalMs: 60_000 })
    const clash = mount({ owner: 'scheduler', catalog: defineJobs({ [RUN_EXECUTE_JOB]: job<{ runId: string }>() }), handlers: { [RUN_EXECUTE_JOB]: noop } })
    await expect(mountWorkers({ queue, mounts: [...core, clash], workerId: 'w', concurrency: 1, log: silentLogger })).rejects.toThrow(
      /job 'run.execute' is declared by both core and scheduler/,
    )
  })

  it('starts no worker host when the check fails (a job enqueued stays unhandled)', async () => {
    const queue = await startQueue()
    const handled: string[] = []
    const send = async (data: Record<string, unknown>, ctx: { workerId: string }) => void handled.push(`${String(data.to)} on ${ctx.workerId}`)
    const broken = mount({ handlers: { 'mail.send': send } })
    await expect(mountWorkers({ queue, mounts: [broken], workerId: 'w_broken', concurrency: 1, log: silentLogger })).rejects.toThrow(/has no handler/)
    await queue.enqueue('mail.send', { to: 'first' }, { jobId: 'mail_first' })
    // A host started afterwards gets the job: it was waiting, not taken by a half-started host.
    const fixed = mount({ handlers: { 'mail.send': send, 'mail.prune': noop } })
    const host = await mountWorkers({ queue, mounts: [fixed], workerId: 'w_fixed', concurrency: 1, log: silentLogger })
    cleanups.push(() => host.close(100))
    await waitFor(() => handled.length > 0, { what: 'the waiting job' })
    expect(handled).toEqual(['first on w_fixed'])
  })
})
