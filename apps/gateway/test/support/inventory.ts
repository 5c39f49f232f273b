import { loadConfig } from '@openvesper/config'
import type { RouteOptions } from 'fastify'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import type { AuthPolicy } from '../../src/http/auth.js'
import { unusedServices } from '../../src/openapi.js'

/** One method + path the app serves, as its hooks completed it (HEAD routes Fastify adds included). */
export interface RouteInfo {
  method: string
  url: string
  auth: AuthPolicy | undefined
  schema: Record<string, any>
  /** Hidden from the OpenAPI document (WebSocket upgrade routes, Swagger UI). */
  hidden: boolean
  websocket: boolean
}

/**
 * Every route of a fully built app, collected with an `onRoute` hook (no database, services never called).
 * Snapshot at hook time: Fastify reuses one options object for `/prefix` and `/prefix/`.
 */
export async function collectRoutes(env: Record<string, string> = {}): Promise<RouteInfo[]> {
  const seen: RouteOptions[] = []
  const app = await buildApp({ config: loadConfig(env), services: unusedServices(), log: pino({ level: 'silent' }), onRoute: (r) => seen.push({ ...r }) })
  await app.ready()
  await app.close()
  return seen.flatMap((route) =>
    (Array.isArray(route.method) ? route.method : [route.method]).map((method) => {
      const schema = (route.schema ?? {}) as Record<string, any>
      return {
        method,
        url: route.url,
        auth: route.config?.auth,
        schema,
        hidden: schema.hide === true,
        websocket: (route as { websocket?: boolean }).websocket === true,
      }
    }),
  )
}

export const routeKey = (r: { method: string; url: string }) => `${r.method} ${r.url}`

/** A concrete path for a route pattern: parameters get a well-formed id for their pattern (`run_…`, `tok_…`). */
export function samplePath(route: RouteInfo): string {
  const params = route.schema.params?.properties ?? {}
  return route.url
    .replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
      const pattern: unknown = params[name]?.pattern
      const prefix = typeof pattern === 'string' ? /^\^([a-z]{3})_/.exec(pattern)?.[1] : undefined
      return prefix ? `${prefix}_0000000000000000` : 'sample'
    })
    .replace(/\*$/, 'index.css')
}

export const isWriteMethod = (method: string) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)
