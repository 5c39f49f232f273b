import type { OpenVesperClient } from '@openvesper/client'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SchedulerFixture, startSchedulerFixture } from '../tasks/fixture.js'

const id = (orderId: string) => ({ params: { path: { id: orderId } } })

/** Standing orders through the generated client; what the model receives is read from the scripted upstream. */
describe.each(MODES)('standing orders (%s mode)', (mode) => {
  let f: SchedulerFixture
  let c: OpenVesperClient

  beforeAll(async () => {
    f = await startSchedulerFixture(mode)
  })
  afterAll(async () => {
    await f?.close()
  })
  beforeEach(async () => {
    c = await f.principal()
  })

  /** The system messages of the upstream request a sync run of `agent` made. */
  const systemSeen = async (client: OpenVesperClient, agent: string, message: string) => {
    f.up.requests.length = 0
    const res = await client.POST('/agent', { body: { message, agent } })
    expect(res.response.status, JSON.stringify(res.error)).toBe(200)
    const req = f.up.requests.find((r) => JSON.stringify(r.body.messages).includes(message))
    expect(req, 'the upstream received the run').toBeDefined()
    return (req!.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'system').map((m) => m.content)
  }

  it('adds the orders to every targeted run in a stable order, and stops after toggle or delete', async () => {
    const a = await c.POST('/standing-orders', { body: { text: 'Answer in French.' } })
    expect(a.response.status, JSON.stringify(a.error)).toBe(201)
    const b = await c.POST('/standing-orders', { body: { text: 'Sign as the writer.', agents: ['writer'] } })
    const d = await c.POST('/standing-orders', { body: { text: 'Be brief.' } })
    expect(a.data).toMatchObject({ text: 'Answer in French.', agents: null, enabled: true })
    expect(b.data!.agents).toEqual(['writer'])
    expect(d.data!.position).toBeGreaterThan(b.data!.position)

    const listed = await c.GET('/standing-orders')
    expect(listed.data!.items.map((o) => o.text)).toEqual(['Answer in French.', 'Sign as the writer.', 'Be brief.'])

    const writer = await systemSeen(c, 'writer', 'w1')
    expect(writer[0]).toBe('You are the writer agent.')
    expect(writer[1]).toBe('Standing orders (follow them in every reply):\n1. Answer in French.\n2. Sign as the writer.\n3. Be brief.')
    const main = await systemSeen(c, 'main', 'm1')
    expect(main).toEqual(['Standing orders (follow them in every reply):\n1. Answer in French.\n2. Be brief.'])

    const off = await c.POST('/standing-orders/{id}/toggle', id(a.data!.id))
    expect(off.data!.enabled).toBe(false)
    expect(await systemSeen(c, 'main', 'm2')).toEqual(['Standing orders (follow them in every reply):\n1. Be brief.'])
    expect((await c.POST('/standing-orders/{id}/toggle', id(a.data!.id))).data!.enabled).toBe(true)
    expect(await systemSeen(c, 'main', 'm3')).toEqual(['Standing orders (follow them in every reply):\n1. Answer in French.\n2. Be brief.'])

    expect((await c.DELETE('/standing-orders/{id}', id(a.data!.id))).response.status).toBe(204)
    expect((await c.DELETE('/standing-orders/{id}', id(d.data!.id))).response.status).toBe(204)
    expect(await systemSeen(c, 'main', 'm4')).toEqual([])
    expect((await c.DELETE('/standing-orders/{id}', id(a.data!.id))).response.status).toBe(404)
  })

  it("keeps principals apart (A05): another principal's orders neither show nor reach its runs", async () => {
    const mine = await c.POST('/standing-orders', { body: { text: 'Only for me.' } })
    const other = await f.principal()
    expect((await other.GET('/standing-orders')).data!.items).toEqual([])
    expect((await other.POST('/standing-orders/{id}/toggle', id(mine.data!.id))).response.status).toBe(404)
    expect((await other.DELETE('/standing-orders/{id}', id(mine.data!.id))).response.status).toBe(404)
    expect(await systemSeen(other, 'main', 'o1')).toEqual([])
    expect(await systemSeen(c, 'main', 'c1')).toEqual(['Standing orders (follow them in every reply):\n1. Only for me.'])
  })

  it('refuses unknown agents, bad bodies and unknown ids', async () => {
    const ghost = await c.POST('/standing-orders', { body: { text: 'x', agents: ['main', 'ghost'] } })
    expect(ghost.response.status).toBe(400)
    expect(JSON.stringify(ghost.error)).toMatch(/unknown agent 'ghost'/)
    expect((await c.POST('/standing-orders', { body: { text: '' } })).response.status).toBe(400)
    expect((await c.POST('/standing-orders', { body: { text: 'x', extra: true } as never })).response.status).toBe(400)
    expect((await c.POST('/standing-orders/{id}/toggle', id('sto_0000000000000000'))).response.status).toBe(404)
    expect((await c.GET('/standing-orders')).data!.items).toEqual([])
  })
})
