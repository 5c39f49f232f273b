import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { buildTestApp, type TestApp, type TestMode, upstreamEnv } from '../../support/helpers.js'

export interface SchedulerFixture {
  t: TestApp
  up: FakeUpstream
  /** The agents file the gateway read (tests may rewrite it, then reload). */
  configPath: string
  client(token: string): OpenVesperClient
  /** A new principal holding runs:read and runs:write. */
  principal(): Promise<OpenVesperClient>
  close(): Promise<void>
}

/**
 * A listening gateway in `mode` on the scripted upstream with agents `main` and `writer`; replies echo the message,
 * after `delayMs` when the message says `slow <ms>`. Extra env (scheduler settings) may be given.
 */
export async function startSchedulerFixture(mode: TestMode, env: Record<string, string> = {}, extraAgents: object[] = []): Promise<SchedulerFixture> {
  const up = await startFakeUpstream()
  up.setDefault(slowOrEcho)
  const dir = mkdtempSync(join(tmpdir(), 'ov-scheduler-'))
  const configPath = join(dir, 'openvesper.config.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      agents: [
        { id: 'main' },
        { id: 'writer', systemPrompt: 'You are the writer agent.' },
        { id: 'promiser', tools: ['commitment_create', 'commitment_fulfill'] },
        ...extraAgents,
      ],
    }),
  )
  const t = await buildTestApp({ mode, env: upstreamEnv(up, { OPENVESPER_CONFIG: configPath, OPENVESPER_SCHEDULER_SWEEP_MS: '200', ...env }) })
  const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  const client = (token: string) => createOpenVesperClient({ baseUrl: base, token })
  return {
    t,
    up,
    configPath,
    client,
    async principal() {
      return client(await t.tokenWith(['runs:read', 'runs:write']))
    },
    async close() {
      await t.close()
      await up.close()
    },
  }
}

export const slowOrEcho = (request: { body: any }) => {
  const messages = (request.body?.messages ?? []) as { role: string; content: unknown }[]
  const last = messages.filter((m) => m.role === 'user').at(-1)
  const text = typeof last?.content === 'string' ? last.content : ''
  const slow = /slow (\d+)/.exec(text)
  return slow ? { echo: true, delayMs: Number(slow[1]) } : { echo: true }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
