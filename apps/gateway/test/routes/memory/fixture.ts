import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { type FakeUpstream, startFakeUpstream } from '@openvesper/testing'
import { buildTestApp, type TestApp, type TestMode, upstreamEnv } from '../../support/helpers.js'

export const MEMORY_SCOPES = ['memory:read', 'memory:write', 'runs:read', 'runs:write']
export const EMBED_DIM = 256

export interface MemoryFixture {
  t: TestApp
  up: FakeUpstream
  client(token: string): OpenVesperClient
  /** A new principal holding `scopes` (default: memory and runs, read and write). */
  principal(scopes?: string[]): Promise<OpenVesperClient>
  close(): Promise<void>
}

/**
 * A listening gateway in `mode` on the scripted upstream, with agents `main`, `helper` (injects the top 3 memories,
 * tools memory_save and memory_search), `reader` (reads helper's memory too) and `other`. `embeddings`: the
 * upstream's `/v1/embeddings` is the embedding provider (dimension EMBED_DIM), so search is hybrid.
 */
export async function startMemoryFixture(mode: TestMode, options: { embeddings?: boolean; env?: Record<string, string> } = {}): Promise<MemoryFixture> {
  const up = await startFakeUpstream()
  up.setDefault({ echo: true })
  const dir = mkdtempSync(join(tmpdir(), 'ov-memory-'))
  const configPath = join(dir, 'openvesper.config.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      agents: [
        { id: 'main' },
        { id: 'helper', tools: ['memory_save', 'memory_search'], memory: { inject: 3 } },
        { id: 'reader', tools: ['memory_search'], memory: { sharedWith: ['helper'] } },
        { id: 'other', tools: ['memory_search'] },
      ],
    }),
  )
  const env: Record<string, string> = { OPENVESPER_CONFIG: configPath, OPENVESPER_MEMORY_PURGE_INTERVAL_MS: '300', ...options.env }
  if (options.embeddings) {
    env.OPENVESPER_EMBEDDINGS_URL = `${up.url}/v1`
    env.OPENVESPER_EMBEDDINGS_MODEL = 'fake-embedding'
    env.OPENVESPER_EMBEDDINGS_DIMENSION = String(EMBED_DIM)
  }
  const t = await buildTestApp({ mode, env: upstreamEnv(up, env) })
  const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
  const client = (token: string) => createOpenVesperClient({ baseUrl: base, token })
  return {
    t,
    up,
    client,
    async principal(scopes = MEMORY_SCOPES) {
      return client(await t.tokenWith(scopes))
    },
    async close() {
      await t.close()
      await up.close()
    },
  }
}
