import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SchedulerFixture, sleep, startSchedulerFixture } from './fixture.js'

const id = (taskId: string) => ({ params: { path: { id: taskId } } })

/** The task routes through the generated client, firing real runs, in both modes. */
describe.each(MODES)('tasks (%s mode)', (mode) => {
  let f: SchedulerFixture
  let c: OpenVesperClient

  beforeAll(async () => {
    f = await startSchedulerFixture(mode)
    c = await f.principal()
  })
  afterAll(async () => {
    await f?.close()
  })

  const detail = async (client: OpenVesperClient, taskId: string) => {
    const res = await client.GET('/tasks/{id}', id(taskId))
    expect(res.response.status, JSON.stringify(res.error)).toBe(200)
    return res.data!
  }

  it('refuses bad schedules, unknown agents and unknown ids with the reason', async () => {
    const bad = async (body: Record<string, unknown>, pattern: RegExp) => {
      const res = await c.POST('/tasks', { body: { message: 'x', ...body } as any })
      expect(res.response.status, JSON.stringify(body)).toBe(400)
      expect(res.response.headers.get('content-type')).toMatch(/application\/problem\+json/)
      expect(JSON.stringify(res.error)).toMatch(pattern)
    }
    await bad({ schedule: { kind: 'cron', cron: '0 0 31 2 *' } }, /never fires/)
    await bad({ schedule: { kind: 'cron', cron: 'every day' } }, /five fields/)
    await bad({ schedule: { kind: 'cron', cron: '0 9 * * *', tz: 'Europe/Atlantis' } }, /not an IANA time zone/)
    await bad({ schedule: { kind: 'every', everyMs: 500 } }, /at least 1000 ms/)
    await bad({ schedule: { kind: 'once', at: '2001-01-01T00:00:00Z' } }, /in the past/)
    await bad({ schedule: { kind: 'every', everyMs: 5000 }, agent: 'ghost' }, /unknown agent 'ghost'/)
    await bad({ schedule: { kind: 'weekly' } }, /schedule/)
    await bad({ schedule: { kind: 'every', everyMs: 5000 }, extra: 1 }, /extra|additional/)
    const missing = await c.GET('/tasks/{id}', id('tsk_0000000000000000'))
    expect(missing.response.status).toBe(404)
    // Nothing half-written: the refused tasks do not exist.
    expect((await c.GET('/tasks')).data!.items).toEqual([])
  })

  it('creates, lists, shows the next fire times, edits and deletes; another principal sees none of it (A05)', async () => {
    const created = await c.POST('/tasks', {
      body: { name: 'standup', agent: 'writer', message: 'standup', schedule: { kind: 'cron', cron: '0 9 * * 1-5', tz: 'Europe/Berlin' } },
    })
    expect(created.response.status, JSON.stringify(created.error)).toBe(201)
    const task = created.data!
    expect(task).toMatchObject({
      name: 'standup',
      agent: 'writer',
      enabled: true,
      overlap: 'skip',
      schedule: { kind: 'cron', cron: '0 9 * * 1-5', tz: 'Europe/Berlin' },
    })
    const d = await detail(c, task.id)
    expect(d.nextFireTimes).toHaveLength(5)
    for (const t of d.nextFireTimes) {
      const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(t))
      expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/)
    }
    expect(d.nextFireTimes[0]).toBe(task.nextFireAt)
    expect(d.history).toEqual([])

    const listed = await c.GET('/tasks')
    expect(listed.data!.items.map((t) => t.id)).toEqual([task.id])

    const other = await f.principal()
    expect((await other.GET('/tasks/{id}', id(task.id))).response.status).toBe(404)
    expect((await other.PATCH('/tasks/{id}', { ...id(task.id), body: { message: 'mine' } })).response.status).toBe(404)
    expect((await other.POST('/tasks/{id}/fire', id(task.id))).response.status).toBe(404)
    expect((await other.DELETE('/tasks/{id}', id(task.id))).response.status).toBe(404)
    expect((await other.GET('/tasks')).data!.items).toEqual([])

    const edited = await c.PATCH('/tasks/{id}', { ...id(task.id), body: { schedule: { kind: 'cron', cron: '30 7 * * *', tz: 'UTC' }, message: 'new' } })
    expect(edited.response.status, JSON.stringify(edited.error)).toBe(200)
    expect(edited.data).toMatchObject({ message: 'new', schedule: { kind: 'cron', cron: '30 7 * * *', tz: 'UTC' } })
    expect(new Date(edited.data!.nextFireAt!).toISOString()).toMatch(/T07:30:00\.000Z$/)
    const badEdit = await c.PATCH('/tasks/{id}', { ...id(task.id), body: { schedule: { kind: 'cron', cron: '0 0 30 2 *' } } })
    expect(badEdit.response.status).toBe(400)
    expect((await detail(c, task.id)).schedule).toEqual({ kind: 'cron', cron: '30 7 * * *', tz: 'UTC' })

    expect((await c.DELETE('/tasks/{id}', id(task.id))).response.status).toBe(204)
    expect((await c.GET('/tasks/{id}', id(task.id))).response.status).toBe(404)
    expect((await c.DELETE('/tasks/{id}', id(task.id))).response.status).toBe(404)
  })

  it('fires a per-second task into real runs, once per tick, with the history of each firing', async () => {
    const res = await c.POST('/tasks', { body: { message: 'tick', schedule: { kind: 'every', everyMs: 1000 } } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(201)
    const taskId = res.data!.id
    const d = await waitFor(
      async () => {
        const got = await detail(c, taskId)
        return got.history.filter((h) => h.runStatus === 'completed').length >= 3 ? got : undefined
      },
      { timeoutMs: 8000, what: 'three completed firings' },
    )
    await c.POST('/tasks/{id}/pause', id(taskId))
    const fires = d.history.filter((h) => h.trigger === 'schedule')
    const ticks = fires.map((h) => Date.parse(h.tickAt))
    expect(new Set(ticks).size).toBe(ticks.length)
    for (const h of fires) {
      expect(h.outcome).toBe('started')
      expect(h.runId).toMatch(/^run_/)
      // On the task's one-second grid from its creation.
      expect((Date.parse(h.tickAt) - Date.parse(res.data!.createdAt)) % 1000).toBe(0)
      expect(Date.parse(h.firedAt)).toBeGreaterThanOrEqual(Date.parse(h.tickAt))
      expect(Date.parse(h.firedAt) - Date.parse(h.tickAt)).toBeLessThan(1000)
    }
    const run = await c.GET('/agent/run/{runId}', { params: { path: { runId: fires.at(-1)!.runId! } } })
    expect(run.data).toMatchObject({ status: 'completed', output: 'tick', agent: 'main' })
  })

  it('pause skips the ticks it misses, resume does not burst', async () => {
    const taskId = (await c.POST('/tasks', { body: { message: 'pr', schedule: { kind: 'every', everyMs: 1000 } } })).data!.id
    await waitFor(async () => (await detail(c, taskId)).history.length >= 1, { timeoutMs: 5000, what: 'a first firing' })
    const paused = await c.POST('/tasks/{id}/pause', id(taskId))
    expect(paused.data).toMatchObject({ enabled: false, nextFireAt: null })
    const atPause = (await detail(c, taskId)).history.length
    await sleep(3200)
    const whilePaused = await detail(c, taskId)
    expect(whilePaused.history.length).toBe(atPause)
    expect(whilePaused.nextFireTimes).toEqual([])
    const resumedAt = Date.now()
    const resumed = await c.POST('/tasks/{id}/resume', id(taskId))
    expect(resumed.data!.enabled).toBe(true)
    expect(Date.parse(resumed.data!.nextFireAt!)).toBeGreaterThan(resumedAt - 50)
    await sleep(1600)
    await c.POST('/tasks/{id}/pause', id(taskId))
    const after = (await detail(c, taskId)).history.filter((h) => h.trigger === 'schedule')
    const sinceResume = after.filter((h) => Date.parse(h.tickAt) > resumedAt - 50)
    // About 1.6 s of one-second ticks: one or two, never the three missed while paused.
    expect(sinceResume.length).toBeGreaterThanOrEqual(1)
    expect(sinceResume.length).toBeLessThanOrEqual(2)
    expect(after.length - sinceResume.length).toBe(atPause)
  })

  it('fire-now runs the task (also paused) and does not move the next fire time', async () => {
    const task = (await c.POST('/tasks', { body: { message: 'manual', schedule: { kind: 'cron', cron: '0 3 * * *', tz: 'Asia/Tokyo' } } })).data!
    const fired = await c.POST('/tasks/{id}/fire', id(task.id))
    expect(fired.response.status, JSON.stringify(fired.error)).toBe(202)
    expect(fired.data).toMatchObject({ trigger: 'manual', outcome: 'started', runId: expect.stringMatching(/^run_/) })
    const d = await waitFor(async () => {
      const got = await detail(c, task.id)
      return got.history[0]?.runStatus === 'completed' ? got : undefined
    })
    expect(d.nextFireAt).toBe(task.nextFireAt)
    expect(d.history).toHaveLength(1)
    await c.POST('/tasks/{id}/pause', id(task.id))
    const again = await c.POST('/tasks/{id}/fire', id(task.id))
    expect(again.data!.outcome).toBe('started')
    expect(again.data!.runId).not.toBe(fired.data!.runId)
  })

  it('overlap skip: a tick while the previous run still runs is recorded as skipped, with no run', async () => {
    const taskId = (await c.POST('/tasks', { body: { message: 'slow 2600', overlap: 'skip', schedule: { kind: 'every', everyMs: 1000 } } })).data!.id
    const d = await waitFor(
      async () => {
        const got = await detail(c, taskId)
        return got.history.some((h) => h.outcome === 'skipped') && got.history.some((h) => h.runStatus === 'completed') ? got : undefined
      },
      { timeoutMs: 10_000, what: 'a skipped tick and a completed run' },
    )
    await c.POST('/tasks/{id}/pause', id(taskId))
    const skipped = d.history.filter((h) => h.outcome === 'skipped')
    for (const h of skipped) {
      expect(h.runId).toBeNull()
      expect(h.reason).toMatch(/overlap policy skip/)
    }
    // Never two runs of the task at once: each started run began after the previous one finished.
    const started = d.history.filter((h) => h.outcome === 'started')
    expect(started.length).toBeGreaterThanOrEqual(1)
    expect(started.length).toBeLessThan(d.history.length)
  })

  it('overlap queue: a tick while the previous run still runs waits, then starts after it', async () => {
    const taskId = (await c.POST('/tasks', { body: { message: 'slow 1800', overlap: 'queue', schedule: { kind: 'every', everyMs: 1000 } } })).data!.id
    const d = await waitFor(
      async () => {
        const got = await detail(c, taskId)
        return got.history.filter((h) => h.runStatus === 'completed').length >= 2 ? got : undefined
      },
      { timeoutMs: 12_000, what: 'two completed runs' },
    )
    await c.POST('/tasks/{id}/pause', id(taskId))
    expect(d.history.some((h) => (h.reason ?? '').includes('overlap policy queue'))).toBe(true)
    const runIds = d.history.filter((h) => h.runId).map((h) => h.runId!)
    const runs = await Promise.all(runIds.map(async (runId) => (await c.GET('/agent/run/{runId}', { params: { path: { runId } } })).data!))
    const spans = runs
      .filter((r) => r.startedAt)
      .map((r) => [Date.parse(r.startedAt!), r.finishedAt ? Date.parse(r.finishedAt) : Number.POSITIVE_INFINITY] as const)
      .sort((a, b) => a[0] - b[0])
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1])
  })
})
