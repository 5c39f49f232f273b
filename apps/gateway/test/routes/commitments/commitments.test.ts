import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SchedulerFixture, sleep, slowOrEcho, startSchedulerFixture } from '../tasks/fixture.js'

const id = (commitmentId: string) => ({ params: { path: { id: commitmentId } } })
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString()

/** Commitments through the generated client and the runtime tools, in both modes. */
describe.each(MODES)('commitments (%s mode)', (mode) => {
  let f: SchedulerFixture
  let c: OpenVesperClient

  beforeAll(async () => {
    f = await startSchedulerFixture(mode)
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    f.up.reset()
    f.up.setDefault(slowOrEcho)
    c = await f.principal()
  })

  const followUpCalls = (commitmentId: string) =>
    f.up.requests.filter((r) => JSON.stringify(r.body.messages).includes(`Follow-up on commitment ${commitmentId}`))

  it('a commitment that falls due open starts one follow-up run in its session, with the commitment in it', async () => {
    const made = await c.POST('/commitments', { body: { sessionKey: 'promise-1', text: 'send the weekly report', dueAt: inMs(1200) } })
    expect(made.response.status, JSON.stringify(made.error)).toBe(201)
    expect(made.data).toMatchObject({ status: 'open', agent: 'main', sessionKey: 'promise-1', followUpRunId: null })
    const due = await waitFor(
      async () => {
        const list = await c.GET('/commitments', { params: { query: { sessionKey: 'promise-1' } } })
        const item = list.data!.items[0]
        return item?.followUpRunId ? item : undefined
      },
      { timeoutMs: 10_000, what: 'the follow-up run' },
    )
    expect(due.status).toBe('followed_up')
    const run = await waitFor(async () => {
      const r = await c.GET('/agent/run/{runId}', { params: { path: { runId: due.followUpRunId! } } })
      return r.data?.status === 'completed' ? r.data : undefined
    })
    expect(run.sessionKey).toBe('promise-1')
    expect(run.output).toContain('send the weekly report')
    // Several sweeps later, still one follow-up.
    await sleep(1200)
    expect(followUpCalls(made.data!.id)).toHaveLength(1)
    expect((await c.GET('/commitments', { params: { query: { status: 'followed_up' } } })).data!.items.map((x) => x.id)).toEqual([made.data!.id])
  })

  it('fulfilled or cancelled before due: no follow-up; closing twice is a 409; another principal gets 404 (A05)', async () => {
    const a = (await c.POST('/commitments', { body: { sessionKey: 'p2', text: 'a', dueAt: inMs(800) } })).data!
    const b = (await c.POST('/commitments', { body: { sessionKey: 'p2', text: 'b', dueAt: inMs(800) } })).data!
    const other = await f.principal()
    expect((await other.POST('/commitments/{id}/fulfill', { ...id(a.id), body: {} })).response.status).toBe(404)
    expect((await other.GET('/commitments')).data!.items).toEqual([])
    const done = await c.POST('/commitments/{id}/fulfill', { ...id(a.id), body: { note: 'sent' } })
    expect(done.data).toMatchObject({ status: 'fulfilled', note: 'sent' })
    expect((await c.POST('/commitments/{id}/cancel', id(b.id))).data!.status).toBe('cancelled')
    const again = await c.POST('/commitments/{id}/fulfill', { ...id(a.id), body: {} })
    expect(again.response.status).toBe(409)
    await sleep(1500)
    expect(followUpCalls(a.id)).toHaveLength(0)
    expect(followUpCalls(b.id)).toHaveLength(0)
    expect((await c.GET('/commitments', { params: { query: { sessionKey: 'p2' } } })).data!.items.map((x) => x.status)).toEqual(['fulfilled', 'cancelled'])
  })

  it('refuses unknown agents, bad bodies and unknown ids', async () => {
    const ghost = await c.POST('/commitments', { body: { agent: 'ghost', sessionKey: 's', text: 'x', dueAt: inMs(60_000) } })
    expect(ghost.response.status).toBe(400)
    expect(JSON.stringify(ghost.error)).toMatch(/unknown agent 'ghost'/)
    expect((await c.POST('/commitments', { body: { sessionKey: 's', text: 'x', dueAt: 'tomorrow' } })).response.status).toBe(400)
    expect((await c.POST('/commitments/{id}/cancel', id('cmt_0000000000000000'))).response.status).toBe(404)
    expect((await c.GET('/commitments')).data!.items).toEqual([])
  })

  it('agents create and fulfil commitments through the commitment_create and commitment_fulfill tools', async () => {
    f.up.enqueue({ toolCalls: [{ name: 'commitment_create', arguments: { text: 'call the supplier', dueInSeconds: 3600 } }] }, { text: 'promised' })
    const first = await c.POST('/agent', { body: { message: 'promise something', agent: 'promiser', sessionKey: 'tools-1' } })
    expect(first.response.status, JSON.stringify(first.error)).toBe(200)
    expect(first.data!.output).toBe('promised')
    const made = (await c.GET('/commitments')).data!.items
    expect(made).toHaveLength(1)
    expect(made[0]).toMatchObject({ text: 'call the supplier', agent: 'promiser', sessionKey: 'tools-1', status: 'open', sourceRunId: first.data!.runId })
    expect(Math.abs(Date.parse(made[0]!.dueAt) - (Date.now() + 3_600_000))).toBeLessThan(60_000)

    f.up.enqueue({ toolCalls: [{ name: 'commitment_fulfill', arguments: { id: made[0]!.id, note: 'called' } }] }, { text: 'fulfilled' })
    const second = await c.POST('/agent', { body: { message: 'now do it', agent: 'promiser', sessionKey: 'tools-1' } })
    expect(second.data!.output).toBe('fulfilled')
    expect((await c.GET('/commitments')).data!.items[0]).toMatchObject({ status: 'fulfilled', note: 'called' })
  })
})
