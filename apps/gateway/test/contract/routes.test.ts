import { loadConfig } from '@openvesper/config'
import { pino } from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { PROBLEM_CONTENT_TYPE, PROBLEM_STATUSES } from '../../src/http/errors.js'
import { isScope } from '@openvesper/access'
import { DOCS_PREFIX } from '../../src/http/swagger.js'
import { FEATURES, featureTags } from '../../src/routes/index.js'
import { unusedServices } from '../../src/openapi.js'
import { collectRoutes, routeKey, type RouteInfo } from '../support/inventory.js'

/** Seed 000, group "Agent execution", plus the WebSocket endpoint. */
const AGENT_EXECUTION = [
  'POST /agent',
  'POST /agent/async',
  'POST /agent/stream',
  'GET /agent/run/:runId',
  'POST /agent/run/:runId/wait',
  'POST /agent/run/:runId/abort',
  'GET /ws',
]

/** Seed 000, group "Sessions" (part A: the session store; compact, tokens and queue come later), plus seeds 001/003's messages, delete and prune. */
const SESSIONS = [
  'GET /sessions',
  'GET /sessions/:key',
  'POST /sessions/:key/reset',
  'POST /sessions/:key/agent',
  'POST /sessions/:key/fork',
  'POST /sessions/:key/branch',
  'GET /sessions/:key/messages',
  'DELETE /sessions/:key',
  'POST /sessions/prune',
  'GET /sessions/:key/queue',
  'POST /sessions/:key/queue/mode',
  'GET /sessions/:key/tokens',
]

/** The OpenAI-compatible surface (issue 13, first routes): seed 004's models and chat completions. */
const OPENAI = ['GET /v1/models', 'GET /v1/models/:model_id', 'POST /v1/chat/completions', 'POST /v1/embeddings', 'POST /v1/responses']

/** Compat surfaces document their errors in the provider's shape (their own error handler), not as problems. */
const isOpenAI = (r: RouteInfo) => r.url === '/v1' || r.url.startsWith('/v1/')
const isAnthropic = (r: RouteInfo) => r.url.startsWith('/anthropic/v1/')

/** The only routes anyone may call without a token. */
const PUBLIC_ALLOWLIST = ['GET /health', 'HEAD /health']

/** Every object in a request schema must reject unknown properties. */
function openObjects(schema: unknown, path: string, out: string[] = []): string[] {
  if (!schema || typeof schema !== 'object') return out
  const s = schema as Record<string, unknown>
  if ((s.type === 'object' || s.properties !== undefined) && s.additionalProperties !== false) out.push(path)
  for (const [key, value] of Object.entries(s)) {
    if (key === 'properties' && value && typeof value === 'object') for (const [name, sub] of Object.entries(value)) openObjects(sub, `${path}.${name}`, out)
    else if (['items', 'anyOf', 'oneOf', 'allOf', 'not'].includes(key)) {
      const subs = Array.isArray(value) ? value : [value]
      for (const [i, sub] of subs.entries()) openObjects(sub, `${path}.${key}[${i}]`, out)
    }
  }
  return out
}

describe('route inventory', () => {
  let routes: RouteInfo[]
  let documented: RouteInfo[]

  beforeAll(async () => {
    routes = await collectRoutes()
    documented = routes.filter((r) => !r.hidden && r.method !== 'HEAD')
  })

  it('collects the routes of the fully built app, automatic HEAD routes included', () => {
    const keys = routes.map(routeKey)
    expect(keys).toContain('GET /health')
    expect(keys).toContain('HEAD /health')
    expect(keys).toContain('POST /auth/tokens')
    expect(keys.some((k) => k.startsWith(`GET ${DOCS_PREFIX}`))).toBe(true)
  })

  it('serves every method and path of the seed group "Agent execution" and GET /ws', () => {
    const keys = new Set(routes.map(routeKey))
    const missing = AGENT_EXECUTION.filter((k) => !keys.has(k))
    expect(missing, `missing routes: ${missing.join(', ')}`).toEqual([])
  })

  it('serves the session routes, each tagged "Sessions" and guarded by a sessions scope', () => {
    const byKey = new Map(routes.map((r) => [routeKey(r), r]))
    const missing = SESSIONS.filter((k) => !byKey.has(k))
    expect(missing, `missing routes: ${missing.join(', ')}`).toEqual([])
    for (const key of SESSIONS) {
      const r = byKey.get(key)!
      expect(r.schema.tags, key).toEqual(['Sessions'])
      expect(r.auth, key).toEqual({ scopes: [key.startsWith('GET ') ? 'sessions:read' : 'sessions:write'] })
    }
    expect(
      routes
        .filter((r) => r.url.startsWith('/sessions'))
        .map(routeKey)
        .filter((k) => !k.startsWith('HEAD '))
        .sort(),
    ).toEqual([...SESSIONS].sort())
  })

  it('serves the OpenAI-compatible routes, each tagged "OpenAI", any valid token at the hook (models: any token, as OpenAI lists models to any key; completions: the handler needs runs:write for an agent, models:use for a provider model)', () => {
    const byKey = new Map(routes.map((r) => [routeKey(r), r]))
    const missing = OPENAI.filter((k) => !byKey.has(k))
    expect(missing, `missing routes: ${missing.join(', ')}`).toEqual([])
    for (const key of OPENAI) {
      const r = byKey.get(key)!
      expect(r.schema.tags, key).toEqual(['OpenAI'])
      expect(r.auth, key).toEqual({ scopes: [] })
    }
    // Besides them only the undocumented twin of the by-id route, for ids whose slash arrives unencoded.
    const rest = routes.filter((r) => isOpenAI(r) && r.method !== 'HEAD' && !OPENAI.includes(routeKey(r)))
    expect(rest.map((r) => [routeKey(r), r.hidden, r.auth])).toEqual([['GET /v1/models/*', true, { scopes: [] }]])
  })

  it('gives every route a valid auth policy', () => {
    for (const r of routes) {
      expect(r.auth, `${routeKey(r)} has no config.auth`).toBeDefined()
      const auth = r.auth!
      if ('public' in auth) expect(auth.public).toBe(true)
      else for (const scope of auth.scopes) expect(isScope(scope), `${routeKey(r)}: unknown scope ${scope}`).toBe(true)
    }
  })

  it('has no public route beyond the allowlist (GET /health)', () => {
    const publicRoutes = routes.filter((r) => r.auth && 'public' in r.auth).map(routeKey)
    expect(publicRoutes.sort()).toEqual([...PUBLIC_ALLOWLIST].sort())
  })

  it('marks only routes that stream (SSE or WebSocket) as accepting ?token=', () => {
    const streaming = routes.filter((r) => r.auth && 'scopes' in r.auth && r.auth.streaming === true)
    for (const r of streaming) {
      const produces = JSON.stringify(r.schema.response ?? {})
      const isSse = produces.includes('text/event-stream')
      expect(r.websocket || isSse, `${routeKey(r)} accepts ?token= but is neither WebSocket nor SSE`).toBe(true)
    }
    expect(streaming.some((r) => r.websocket)).toBe(true)
  })

  it('documents security on every route from its policy', () => {
    for (const r of routes) {
      const expected = r.auth && 'public' in r.auth ? [] : r.auth?.apiKeyHeader ? [{ bearerAuth: [] }, { apiKeyAuth: [] }] : [{ bearerAuth: [] }]
      // x-api-key is the Anthropic surface's alternative credential, and only there.
      expect(r.auth && 'scopes' in r.auth && r.auth.apiKeyHeader === true, routeKey(r)).toBe(isAnthropic(r))
      expect(r.schema.security, routeKey(r)).toEqual(expected)
    }
  })

  it('gives every documented route a unique camelCase operationId, a summary and declared tags', () => {
    const declaredTags = new Set(featureTags(FEATURES).map((t) => t.name))
    const ids = new Map<string, string>()
    for (const r of documented) {
      const { operationId, summary, tags } = r.schema
      expect(operationId, `${routeKey(r)} has no operationId`).toMatch(/^[a-z][a-zA-Z0-9]*$/)
      expect(ids.get(operationId), `operationId ${operationId} used twice`).toBeUndefined()
      ids.set(operationId, routeKey(r))
      expect(typeof summary === 'string' && summary.length > 0, `${routeKey(r)} has no summary`).toBe(true)
      expect(Array.isArray(tags) && tags.length > 0, `${routeKey(r)} has no tag`).toBe(true)
      for (const tag of tags) expect(declaredTags.has(tag), `${routeKey(r)}: tag ${tag} is not declared by a feature`).toBe(true)
    }
  })

  it('declares a response schema for a success status on every documented route', () => {
    for (const r of documented) {
      const statuses = Object.keys(r.schema.response ?? {})
      expect(
        statuses.some((s) => /^[23]\d\d$/.test(s)),
        `${routeKey(r)} declares no success response`,
      ).toBe(true)
    }
  })

  it('documents every error status with the Problem component on every route (the OpenAI error on /v1)', () => {
    for (const r of routes) {
      const [component, contentType] = isOpenAI(r)
        ? ['OpenAI.Error#', 'application/json']
        : isAnthropic(r)
          ? ['Anthropic.Error#', 'application/json']
          : ['Problem#', PROBLEM_CONTENT_TYPE]
      for (const status of PROBLEM_STATUSES) {
        const entry = r.schema.response?.[status]
        expect(entry, `${routeKey(r)} lacks a ${status} response`).toBeDefined()
        expect(JSON.stringify(entry), `${routeKey(r)} ${status}`).toContain(component)
        expect(Object.keys(entry.content ?? {}), `${routeKey(r)} ${status}`).toContain(contentType)
      }
    }
  })

  it('declares a params schema exactly for the path parameters', () => {
    for (const r of documented) {
      const inPath = [...r.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]).sort()
      const declared = Object.keys(r.schema.params?.properties ?? {}).sort()
      expect(declared, routeKey(r)).toEqual(inPath)
    }
  })

  it('rejects unknown properties in every request schema (body, querystring, params, headers objects)', () => {
    const open: string[] = []
    for (const r of routes) {
      for (const part of ['body', 'querystring', 'params'] as const) {
        if (r.schema[part]) open.push(...openObjects(r.schema[part], `${routeKey(r)} ${part}`))
      }
    }
    expect(open, 'request schemas without additionalProperties: false').toEqual([])
  })

  it('refuses to boot with a route that declares no auth policy', async () => {
    const app = await buildApp({ config: loadConfig({}), services: unusedServices(), log: pino({ level: 'silent' }) })
    expect(() => app.get('/undeclared', async () => 'x')).toThrow(/declares no config\.auth/)
    expect(() => app.get('/bad-scope', { config: { auth: { scopes: ['root' as never] } } }, async () => 'x')).toThrow(/config\.auth must be/)
    expect(() => app.get('/both', { config: { auth: { public: true, scopes: [] } as never } }, async () => 'x')).toThrow(/config\.auth must be/)
    await app.close()
  })

  it('makes Swagger UI public only when OPENVESPER_DOCS_PUBLIC is set', async () => {
    const isDocs = (r: RouteInfo) => r.url === DOCS_PREFIX || r.url.startsWith(`${DOCS_PREFIX}/`)
    const closed = routes.filter(isDocs)
    expect(closed.length).toBeGreaterThan(0)
    for (const r of closed) expect(r.auth, routeKey(r)).toEqual({ scopes: [] })
    const open = (await collectRoutes({ OPENVESPER_DOCS_PUBLIC: 'true' })).filter(isDocs)
    for (const r of open) expect(r.auth, routeKey(r)).toEqual({ public: true })
  })
})
