import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { buildTestApp, type TestApp, type TestMode, upstreamEnv } from '../../support/helpers.js'

export const WRITER_PROMPT = 'You are the writer agent.'

export interface SessionsFixture {
  t: TestApp
  up: FakeUpstream
  base: string
  /** A typed client (generated from openapi/openapi.json) over real HTTP. */
  client(token: string): OpenVesperClient
  admin: OpenVesperClient
  /** A new principal holding `scopes` (default: sessions and runs, read and write). */
  principal(scopes?: string[]): Promise<OpenVesperClient>
  close(): Promise<void>
}

/**
 * A listening gateway in `mode` on the scripted upstream (echo by default), with two agents: `main` and `writer`
 * (whose system prompt shows in the upstream's received messages).
 */
export async function startSessionsFixture(mode: TestMode, env: Record<string, string> = {}): Promise<SessionsFixture> {
  const up = await startFakeUpstream()
  up.setDefault({ echo: true })
  const dir = mkdtempSync(join(tmpdir(), 'ov-sessions-'))
  const configPath = join(dir, 'openvesper.config.json')
  writeFileSync(configPath, JSON.stringify({ agents: [{ id: 'main' }, { id: 'writer', systemPrompt: WRITER_PROMPT }, { id: 'small', contextWindow: 1024 }] }))
  const t = await buildTestApp({ mode, env: upstreamEnv(up, { OPENVESPER_CONFIG: configPath, ...env }) })
  const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  const client = (token: string) => createOpenVesperClient({ baseUrl: base, token })
  return {
    t,
    up,
    base,
    client,
    admin: client(t.adminToken),
    async principal(scopes = ['sessions:read', 'sessions:write', 'runs:read', 'runs:write']) {
      return client(await t.tokenWith(scopes))
    },
    async close() {
      await t.close()
      await up.close()
    },
  }
}

/** The (role, content) pairs of the messages an upstream request carried. */
export const sentMessages = (request: { body: { messages: { role: string; content: string }[] } }) => request.body.messages.map((m) => [m.role, m.content])
