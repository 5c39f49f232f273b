import { describe, expect, it } from 'vitest'
import { collectJobHandlers, createJobProducer, defineJobMount, defineJobs, job, type JobMount, scheduledJob } from './catalog.js'
import { createInProcessQueue } from './inprocess.js'
import type { JobHandler } from './types.js'

const mailJobs = defineJobs({
  'mail.send': job<{ to: string; subject: string }>(),
  'mail.digest': scheduledJob<{ list: string }>(),
  'mail.prune': scheduledJob(),
})

const noop = async () => {}

describe('typed job catalogs', () => {
  it('type-checks payloads against job names and gives handlers their typed payload', async () => {
    const queue = createInProcessQueue()
    await queue.start()
    const jobs = createJobProducer(queue, mailJobs)
    const seen: unknown[] = []
    const mount = defineJobMount({
      owner: 'mail',
      catalog: mailJobs,
      handlers: {
        'mail.send': async ({ to, subject }) => void seen.push(`${to}: ${subject}`),
        'mail.digest': async ({ list, tickAt }) => void seen.push(`${list} @ ${typeof tickAt}`),
        'mail.prune': async ({ tickAt }) => void seen.push(typeof tickAt),
      },
      schedules: [
        { id: 'mail_prune', job: 'mail.prune', everyMs: 60_000 },
        { id: 'mail_digest', job: 'mail.digest', cron: '0 7 * * *', tz: 'Europe/Paris', data: { list: 'news' } },
      ],
    })
    const host = await queue.startWorkers({ handlers: collectJobHandlers([mount]), concurrency: 1, workerId: 'w' })
    try {
      await jobs.add('mail.send', { to: 'a@b.c', subject: 'hi' }, { jobId: 'mail_1' })
      await jobs.cron('mail_digest', 'mail.digest', '0 7 * * *', { data: { list: 'news' } })
      await jobs.every('mail_prune', 'mail.prune', 60_000)

      // @ts-expect-error a payload field of the wrong type
      await expect(jobs.add('mail.send', { to: 1, subject: 'x' }, { jobId: 'mail_2' })).resolves.toBeUndefined()
      // @ts-expect-error a missing payload field
      void (() => jobs.add('mail.send', { to: 'x' }, { jobId: 'mail_3' }))
      // @ts-expect-error a name that is not in the catalog
      await expect(jobs.add('mail.sned', { to: 'x', subject: 'y' }, { jobId: 'mail_4' })).rejects.toThrow(/'mail.sned' is not in this job catalog/)
      // @ts-expect-error a scheduled job cannot be added one at a time
      await expect(jobs.add('mail.prune', {}, { jobId: 'mail_5' })).rejects.toThrow(/scheduled job; start it with every\(\) or cron\(\)/)
      // @ts-expect-error an ordinary job cannot be scheduled
      await expect(jobs.every('mail_send', 'mail.send', 1_000, { to: 'x', subject: 'y' })).rejects.toThrow(/is a job; start it with add\(\)/)
      // @ts-expect-error a scheduled job with a payload needs it
      void (() => jobs.cron('mail_digest', 'mail.digest', '0 7 * * *'))
      await expect.poll(() => seen).toContain('a@b.c: hi')
    } finally {
      await host.close(100)
      await queue.close()
    }
  })

  it('types mounts: every job needs a handler, handlers and schedules only for declared jobs', () => {
    defineJobMount({
      owner: 'mail',
      catalog: mailJobs,
      // @ts-expect-error 'mail.prune' has no handler
      handlers: { 'mail.send': noop, 'mail.digest': noop },
    })
    defineJobMount({
      owner: 'mail',
      catalog: mailJobs,
      // @ts-expect-error a handler for a job the catalog does not declare
      handlers: { 'mail.send': noop, 'mail.digest': noop, 'mail.prune': noop, 'mail.bounce': noop },
    })
    defineJobMount({
      owner: 'mail',
      catalog: mailJobs,
      handlers: { 'mail.send': noop, 'mail.digest': noop, 'mail.prune': noop },
      // @ts-expect-error only scheduled jobs have schedulers
      schedules: [{ id: 'send_often', job: 'mail.send', everyMs: 1_000 }],
    })
    expect(defineJobs({ 'a.b': job() })).toEqual({ 'a.b': { kind: 'job' } })
  })

  it('refuses a mount whose handlers do not match its catalog, listing every problem', () => {
    const handlers = { 'mail.send': noop, 'mail.digest': noop, 'mail.prune': noop }
    const mount = (over: Partial<JobMount> = {}): JobMount => ({ owner: 'mail', catalog: mailJobs, handlers, schedules: [], ...over })
    expect(Object.keys(collectJobHandlers([mount()]))).toEqual(['mail.send', 'mail.digest', 'mail.prune'])

    const { 'mail.prune': _, ...missing } = handlers
    expect(() => collectJobHandlers([mount({ handlers: missing })])).toThrow(/job 'mail.prune' \(mail\) has no handler; add one to mail's job handlers/)
    expect(() => collectJobHandlers([mount({ handlers: { ...handlers, 'mail.bounce': noop } })])).toThrow(
      /mail has a handler for 'mail.bounce', which its job catalog does not declare/,
    )
    expect(() => collectJobHandlers([mount({ handlers: { ...handlers, 'mail.send': 'nope' as unknown as JobHandler } })])).toThrow(
      /the handler for job 'mail.send' \(mail\) is not a function/,
    )
    expect(() => collectJobHandlers([mount(), mount({ owner: 'newsletter', schedules: [] })])).toThrow(
      /job 'mail.send' is declared by both mail and newsletter/,
    )
    expect(() => collectJobHandlers([mount({ schedules: [{ id: 's', job: 'mail.send', everyMs: 1_000 }] })])).toThrow(
      /scheduler 's' fires 'mail.send', which is not declared with scheduledJob\(\)/,
    )
    expect(() => collectJobHandlers([mount({ schedules: [{ id: 's', job: 'mail.gone', everyMs: 1_000 }] })])).toThrow(
      /scheduler 's' fires 'mail.gone', which its job catalog does not declare/,
    )
    expect(() => collectJobHandlers([])).toThrow(/no job catalog is mounted/)
    // One error for all of them, so one boot shows every fix.
    const err = (() => {
      try {
        collectJobHandlers([mount({ handlers: { 'mail.send': noop, 'mail.bounce': noop } })])
      } catch (e) {
        return e as Error
      }
    })()
    expect(err?.message.split('\n  - ')).toHaveLength(4)
  })

  it('refuses a catalog entry that is not job() or scheduledJob(), and an empty job name', () => {
    expect(() => defineJobs({ 'a.b': { kind: 'later' } as never })).toThrow(/'a.b' must be job<Payload>\(\) or scheduledJob<Payload>\(\)/)
    expect(() => defineJobs({ '': job() })).toThrow(/non-empty/)
  })
})
