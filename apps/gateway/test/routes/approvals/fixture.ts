import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { type Db, rawSql } from '@openvesper/db'
import { type FakeUpstream, startFakeUpstream, waitFor } from '@openvesper/testing'
import { expect } from 'vitest'
import { buildTestApp, type TestApp, type TestMode, upstreamEnv } from '../../support/helpers.js'

export interface ApprovalsFixture {
  t: TestApp
  up: FakeUpstream
  base: string
  client(token: string): OpenVesperClient
  admin: OpenVesperClient
  /** A new principal's token holding `scopes`. */
  token(scopes: string[], principalId?: string): Promise<string>
  close(): Promise<void>
}

/** A listening gateway in `mode` on the scripted upstream; agent `main` may call current_time. */
export async function startApprovalsFixture(mode: TestMode, env: Record<string, string> = {}): Promise<ApprovalsFixture> {
  const up = await startFakeUpstream()
  const dir = mkdtempSync(join(tmpdir(), 'ov-approvals-'))
  const configPath = join(dir, 'openvesper.config.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      agents: [
        { id: 'main', tools: ['current_time'] },
        { id: 'other', tools: ['current_time'] },
      ],
    }),
  )
  const t = await buildTestApp({ mode, env: upstreamEnv(up, { OPENVESPER_CONFIG: configPath, OPENVESPER_UPSTREAM_MAX_RETRIES: '0', ...env }) })
  const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  const client = (token: string) => createOpenVesperClient({ baseUrl: base, token })
  return {
    t,
    up,
    base,
    client,
    admin: client(t.adminToken),
    token: (scopes, principalId) => t.tokenWith(scopes, principalId),
    async close() {
      await t.close()
      await up.close()
    },
  }
}

/** Sets the rules to exactly `rules` (through the API). */
export async function setRules(admin: OpenVesperClient, rules: { match: Record<string, unknown>; action: 'allow' | 'deny' | 'ask'; reason?: string }[]) {
  const now = await admin.GET('/approvals/rules')
  for (let i = now.data!.items.length - 1; i >= 0; i--) {
    const del = await admin.DELETE('/approvals/rules/{index}', { params: { path: { index: i } } })
    expect(del.response.status).toBe(204)
  }
  for (const r of rules) {
    const res = await admin.POST('/approvals/rules', { body: r })
    expect(res.response.status, JSON.stringify(res.error)).toBe(201)
  }
}

/** Waits until the run has this status (polling GET /agent/run/:id). */
export async function waitStatus(c: OpenVesperClient, runId: string, status: string, timeoutMs = 15_000) {
  return waitFor(
    async () => {
      const res = await c.GET('/agent/run/{runId}', { params: { path: { runId } } })
      return res.data?.status === status ? res.data : undefined
    },
    { timeoutMs, what: `run ${runId} ${status}` },
  )
}

/** The tool ledger rows of a run. */
export const ledger = async (db: Db, runId: string) =>
  (
    await rawSql(db).query<{ name: string; status: string; args_hash: string }>('select name, status, args_hash from tool_calls where run_id = $1', [runId])
  ).map((r) => ({ name: r.name, status: r.status, argsHash: r.args_hash }))

/** The tool messages of an OpenAI chat completions request. */
export const toolMessages = (req: { body: { messages: { role: string; content: string; tool_call_id?: string }[] } }) =>
  req.body.messages.filter((m) => m.role === 'tool')
