import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, buildTestApp, type TestApp } from '../../support/helpers.js'

describe('agents from openvesper.config.json', () => {
  let t: TestApp
  let up: FakeUpstream

  beforeAll(async () => {
    up = await startFakeUpstream()
    const dir = mkdtempSync(join(tmpdir(), 'ov-agents-'))
    const configPath = join(dir, 'openvesper.config.json')
    writeFileSync(
      configPath,
      JSON.stringify({
        agents: [
          { id: 'main', tools: ['current_time'] },
          { id: 'writer', model: 'anthropic/claude-test', systemPrompt: 'You write tersely.', tools: ['current_time'], maxSteps: 2 },
        ],
      }),
    )
    t = await buildTestApp({
      env: {
        OPENVESPER_CONFIG: configPath,
        OPENVESPER_MODEL: 'echo',
        ANTHROPIC_BASE_URL: up.url,
        ANTHROPIC_API_KEY: 'sk-ant-canary',
        OPENVESPER_UPSTREAM_MAX_RETRIES: '0',
      },
    })
  })
  afterAll(async () => {
    await t?.close()
    await up?.close()
  })

  it('uses the default model (echo here) for agents that name none', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(t.adminToken), payload: { message: 'ping pong' } })
    expect(res.json()).toMatchObject({ status: 'completed', output: 'Echo: ping pong', model: 'echo' })
    expect(up.requests).toHaveLength(0)
  })

  it('runs an agent on its own model with its system prompt and tools over the Anthropic wire format', async () => {
    up.enqueue({ toolCalls: [{ id: 'toolu_1', name: 'current_time', arguments: {} }] }, { text: 'Done.' })
    const res = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(t.adminToken), payload: { message: 'time?', agent: 'writer' } })
    expect(res.json()).toMatchObject({ status: 'completed', output: 'Done.', agent: 'writer', model: 'anthropic/claude-test' })
    expect(up.requests.map((r) => r.provider)).toEqual(['anthropic', 'anthropic'])
    const first = up.requests[0]!
    expect(first.headers['x-api-key']).toBe('sk-ant-canary')
    expect(first.body).toMatchObject({ model: 'claude-test', system: 'You write tersely.', stream: true })
    expect(first.body.tools[0]).toMatchObject({ name: 'current_time' })
    const toolResult = up.requests[1]!.body.messages.at(-1).content[0]
    expect(toolResult).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_1' })
  })

  it("bounds the tool loop by the agent's maxSteps", async () => {
    up.reset()
    up.setDefault({ toolCalls: [{ name: 'current_time', arguments: {} }] })
    const res = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(t.adminToken), payload: { message: 'loop', agent: 'writer' } })
    expect(res.json()).toMatchObject({ status: 'failed', failureReason: 'step_limit_exceeded' })
    expect(up.requests).toHaveLength(2)
  })

  it('fails auth to the provider with upstream_auth and does not retry', async () => {
    up.reset()
    up.enqueue({ error: { status: 401 } })
    const res = await t.app.inject({ method: 'POST', url: '/agent', headers: bearer(t.adminToken), payload: { message: 'x', agent: 'writer' } })
    expect(res.json()).toMatchObject({ status: 'failed', failureReason: 'upstream_auth' })
    expect(res.body).not.toContain('sk-ant-canary')
    expect(up.requests).toHaveLength(1)
  })
})
