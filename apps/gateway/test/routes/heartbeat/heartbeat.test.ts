import { writeFileSync } from 'node:fs'
import type { OpenVesperClient } from '@openvesper/client'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MODES } from '../../support/helpers.js'
import { type SchedulerFixture, sleep, startSchedulerFixture } from '../tasks/fixture.js'

const agentsFile = (heartbeat?: object) => ({ agents: [{ id: 'main' }, { id: 'pulse', ...(heartbeat ? { heartbeat } : {}) }] })

/** Heartbeat status and reload through the generated client, in both modes. */
describe.each(MODES)('heartbeat (%s mode)', (mode) => {
  let f: SchedulerFixture
  let admin: OpenVesperClient

  beforeAll(async () => {
    f = await startSchedulerFixture(mode, {}, [{ id: 'pulse', heartbeat: { everyMs: 1000, instructions: 'beat v1' } }])
    admin = f.client(f.t.adminToken)
  })
  afterAll(async () => {
    await f?.close()
  })

  const beats = (text: string) => f.up.requests.filter((r) => JSON.stringify(r.body.messages).includes(text)).length

  it('beats per agent config, shows the last beat and the next; reload picks up a changed interval without a restart', async () => {
    const status = await waitFor(
      async () => {
        const s = (await admin.GET('/heartbeat/status')).data!
        return s.agents[0]?.lastRunStatus === 'completed' ? s : undefined
      },
      { timeoutMs: 8000, what: 'a completed beat' },
    )
    expect(status.agents).toHaveLength(1)
    expect(status.agents[0]).toMatchObject({
      agent: 'pulse',
      everyMs: 1000,
      instructions: 'beat v1',
      lastOutcome: 'started',
      lastRunId: expect.stringMatching(/^run_/),
    })
    expect(Date.parse(status.agents[0]!.nextBeatAt!)).toBeGreaterThan(Date.parse(status.agents[0]!.lastBeatAt!))
    const run = await admin.GET('/agent/run/{runId}', { params: { path: { runId: status.agents[0]!.lastRunId! } } })
    // Heartbeat runs belong to the heartbeat principal, not to the admin.
    expect(run.response.status).toBe(404)

    writeFileSync(f.configPath, JSON.stringify(agentsFile({ everyMs: 3000, instructions: 'beat v2' })))
    const reloadedAt = Date.now()
    const reloaded = await admin.POST('/heartbeat/reload')
    expect(reloaded.response.status, JSON.stringify(reloaded.error)).toBe(200)
    expect(reloaded.data!.agents[0]).toMatchObject({ agent: 'pulse', everyMs: 3000, instructions: 'beat v2' })
    const next = Date.parse(reloaded.data!.agents[0]!.nextBeatAt!)
    expect(next - reloadedAt).toBeGreaterThan(2500)
    expect(next - reloadedAt).toBeLessThan(3600)
    const v1Before = beats('beat v1')
    await sleep(4200)
    // One beat at the new interval in 4.2 s (at the old one there would have been four), and none of the old text.
    expect(beats('beat v2')).toBe(1)
    expect(beats('beat v1')).toBeLessThanOrEqual(v1Before + 1)
  })

  it('a removed heartbeat stops; a malformed agents file is a 400 and changes nothing; admin only', async () => {
    writeFileSync(f.configPath, '{ not json')
    const bad = await admin.POST('/heartbeat/reload')
    expect(bad.response.status).toBe(400)
    expect((await admin.GET('/heartbeat/status')).data!.agents).toHaveLength(1)

    writeFileSync(f.configPath, JSON.stringify(agentsFile()))
    expect((await admin.POST('/heartbeat/reload')).data!.agents).toEqual([])
    const before = beats('beat v2')
    await sleep(3500)
    expect(beats('beat v2')).toBe(before)

    const user = await f.principal()
    expect((await user.GET('/heartbeat/status')).response.status).toBe(403)
    expect((await user.POST('/heartbeat/reload')).response.status).toBe(403)
  })
})
