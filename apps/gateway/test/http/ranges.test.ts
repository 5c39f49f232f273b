import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INT4_MAX } from '../../src/http/params.js'
import { RPC } from '../../src/http/rpc.js'
import { unusedServices } from '../../src/openapi.js'
import { FEATURES, featureComponents, featureRpc } from '../../src/routes/index.js'
import { bearer, buildTestApp, MODES, type TestApp } from '../support/helpers.js'
import { collectRoutes, type RouteInfo, routeKey, samplePath } from '../support/inventory.js'
import { connectRpc, type RpcMessage } from '../support/ws-client.js'

/**
 * Every numeric query, path, header, body and JSON-RPC parameter is validated against the range its storage holds
 * (issue 15): a declared minimum and maximum, sequence numbers and page sizes within a Postgres integer, and a value
 * past either bound answered 400 invalid_request naming the field (JSON-RPC: invalid params naming the path), never a
 * database error, an empty answer or a subscription that never delivers.
 */

type Schema = Record<string, any>
const components = new Map<string, Schema>(featureComponents(FEATURES).map((s) => [(s as Schema).$id as string, s as Schema]))
const resolve = (schema: Schema): Schema => (typeof schema.$ref === 'string' ? resolve(components.get(schema.$ref.replace(/#$/, ''))!) : schema)

interface NumericLeaf {
  /** `querystring.after`, `body.timeoutMs`, `params.afterSeq` (JSON-RPC). */
  path: string
  name: string
  schema: Schema
  /** Top-level property of its part (probed with a request); nested ones are checked statically. */
  topLevel: boolean
}

function numericLeaves(schema: Schema | undefined, path: string, out: NumericLeaf[] = [], depth = 0): NumericLeaf[] {
  if (!schema || depth > 12) return out
  const s = resolve(schema)
  const types = Array.isArray(s.type) ? s.type : [s.type]
  if (types.includes('integer') || types.includes('number')) out.push({ path, name: path.split('.').at(-1)!, schema: s, topLevel: depth === 1 })
  for (const [name, prop] of Object.entries<Schema>(s.properties ?? {})) numericLeaves(prop, `${path}.${name}`, out, depth + 1)
  if (s.items) numericLeaves(s.items, `${path}.0`, out, depth + 1)
  for (const key of ['anyOf', 'oneOf', 'allOf']) for (const sub of (s[key] as Schema[] | undefined) ?? []) numericLeaves(sub, path, out, depth)
  return out
}

/** Parameters stored in (or compared with) a Postgres integer column. */
const INT4_NAMED = /seq|after|before|cursor|limit|offset|attempt|step|epoch|count/i

/** What is wrong with a numeric parameter's declared range (nothing: an empty list). */
function rangeProblems(where: string, leaf: NumericLeaf): string[] {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = leaf.schema
  const max = maximum ?? exclusiveMaximum
  const min = minimum ?? exclusiveMinimum
  const problems: string[] = []
  if (typeof min !== 'number') problems.push(`${where} ${leaf.path}: no minimum`)
  if (typeof max !== 'number') problems.push(`${where} ${leaf.path}: no maximum`)
  else if (max > Number.MAX_SAFE_INTEGER) problems.push(`${where} ${leaf.path}: maximum past what a JavaScript number holds exactly`)
  else if (INT4_NAMED.test(leaf.name) && max > INT4_MAX) problems.push(`${where} ${leaf.path}: maximum past a Postgres integer`)
  return problems
}

/** Values past the leaf's bounds, with the one right past each bound first. */
function outOfRange(leaf: NumericLeaf): number[] {
  const { minimum, maximum } = leaf.schema
  const values = [maximum + 1, 2 ** 31, 2 ** 53, 1e300, minimum - 1, -(2 ** 31) - 1]
  return [...new Set(values.filter((v) => Number.isFinite(v) && (v > maximum || v < minimum)))]
}

const REQUEST_PARTS = ['querystring', 'params', 'headers', 'body'] as const

describe('numeric parameters: every route and JSON-RPC method declares its storage range', () => {
  let routes: RouteInfo[]
  beforeAll(async () => {
    routes = (await collectRoutes()).filter((r) => r.method !== 'HEAD')
  })

  it('finds numeric parameters to check, ?after, timeoutMs and afterSeq among them', () => {
    const found = routes.flatMap((r) => REQUEST_PARTS.flatMap((part) => numericLeaves(r.schema[part], part)).map((l) => `${routeKey(r)} ${l.path}`))
    expect(found).toEqual(expect.arrayContaining(['GET /agent/run/:runId/events querystring.after', 'POST /agent/run/:runId/wait body.timeoutMs']))
    const rpc = Object.entries(featureRpc(FEATURES, unusedServices())).flatMap(([name, { method }]) =>
      numericLeaves(method.params as Schema, 'params').map((l) => `${name} ${l.path}`),
    )
    expect(rpc).toContain('run.subscribe params.afterSeq')
  })

  it('every numeric request parameter of every route has a minimum and a maximum its storage holds', () => {
    const problems = routes.flatMap((route) =>
      REQUEST_PARTS.flatMap((part) => numericLeaves(route.schema[part], part).flatMap((leaf) => rangeProblems(routeKey(route), leaf))),
    )
    expect(problems.sort()).toEqual([])
  })

  it('every numeric parameter of every JSON-RPC method has a minimum and a maximum its storage holds', () => {
    const problems = Object.entries(featureRpc(FEATURES, unusedServices())).flatMap(([name, { method }]) =>
      numericLeaves(method.params as Schema, 'params').flatMap((leaf) => rangeProblems(name, leaf)),
    )
    expect(problems).toEqual([])
  })
})

/** A params object for a JSON-RPC method: a well-formed id for each required id-like string, `value` at `name`. */
function rpcParams(schema: Schema, name: string, value: number): Record<string, unknown> {
  const params: Record<string, unknown> = {}
  for (const key of (schema.required as string[] | undefined) ?? []) {
    const pattern: unknown = schema.properties?.[key]?.pattern
    const prefix = typeof pattern === 'string' ? /^\^([a-z]{3})_/.exec(pattern)?.[1] : undefined
    params[key] = prefix ? `${prefix}_0000000000000000` : 'sample'
  }
  params[name] = value
  return params
}

describe.each(MODES)('numeric parameters out of range are a 400 / invalid params (%s mode)', (mode) => {
  let t: TestApp
  let routes: RouteInfo[]
  let wsUrl: string

  beforeAll(async () => {
    t = await buildTestApp({ mode })
    routes = (await collectRoutes()).filter((r) => r.method !== 'HEAD' && !r.websocket)
    wsUrl = `${(await t.app.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws')}/ws`
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers every out-of-range value of every top-level numeric parameter with 400 invalid_request naming it', async () => {
    let probed = 0
    for (const route of routes) {
      for (const part of REQUEST_PARTS) {
        const schema = route.schema[part] ? resolve(route.schema[part]) : undefined
        for (const leaf of numericLeaves(schema, part).filter((l) => l.topLevel)) {
          // A body with other required fields would fail on those first; those fields are covered statically above.
          if (part === 'body' && ((schema!.required as string[] | undefined) ?? []).some((k) => k !== leaf.name)) continue
          for (const value of outOfRange(leaf)) {
            const url = samplePath(route)
            const query = part === 'querystring' ? `?${leaf.name}=${value}` : ''
            const headers: Record<string, string> = { ...bearer(t.adminToken) }
            if (part === 'headers') headers[leaf.name] = String(value)
            const res = await t.app.inject({
              method: route.method as 'GET',
              url: part === 'params' ? url.replace(/[^/]+$/, String(value)) : `${url}${query}`,
              headers,
              ...(part === 'body' ? { payload: { [leaf.name]: value } } : {}),
            })
            const where = `${routeKey(route)} ${leaf.path}=${value}`
            expect(res.statusCode, `${where}: ${res.body}`).toBe(400)
            // Problem details on the native API; the provider's error body on the compat surfaces (/v1, /anthropic/v1).
            const body = res.json()
            expect(body.code ?? body.error?.type, where).toMatch(/^invalid_request(_error)?$/)
            expect(JSON.stringify(body.errors ?? body.detail ?? body.error?.message), where).toContain(leaf.name)
            probed++
          }
        }
      }
    }
    expect(probed).toBeGreaterThanOrEqual(4)
  })

  it('answers Last-Event-ID past a sequence number with 400, and ?after at the largest sequence number with a stream, not an error', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/agent/async', headers: bearer(t.adminToken), payload: { message: 'ranges' } })
    const { runId } = created.json()
    const tooBig = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}/events`, headers: { ...bearer(t.adminToken), 'last-event-id': '9999999999' } })
    expect(tooBig.statusCode).toBe(400)
    // In range and past the run's last event: the stream ends on the run's end instead of failing in SQL.
    await t.services.runs.wait({ id: 'prn_admin' }, runId, 10_000)
    const atMax = await t.app.inject({ method: 'GET', url: `/agent/run/${runId}/events?after=${INT4_MAX}`, headers: bearer(t.adminToken) })
    expect(atMax.statusCode).toBe(200)
    expect(atMax.headers['content-type']).toMatch(/^text\/event-stream/)
  })

  it('answers every out-of-range numeric JSON-RPC parameter with invalid params naming its path', async () => {
    const c = await connectRpc(wsUrl, bearer(t.adminToken))
    let probed = 0
    for (const [name, { method }] of Object.entries(featureRpc(FEATURES, unusedServices()))) {
      const schema = method.params as Schema
      for (const leaf of numericLeaves(schema, 'params').filter((l) => l.topLevel)) {
        for (const value of outOfRange(leaf)) {
          const reply: RpcMessage = await c.call(name, rpcParams(schema, leaf.name, value))
          expect(reply.error, `${name} ${leaf.name}=${value}`).toMatchObject({ code: RPC.invalidParams, data: { path: `/${leaf.name}` } })
          probed++
        }
      }
    }
    expect(probed).toBeGreaterThanOrEqual(3)
    c.close()
  })
})
