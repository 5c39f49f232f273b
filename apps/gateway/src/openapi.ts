import { loadConfig } from '@openvesper/config'
import { pino } from 'pino'
import { buildApp } from './app.js'
import type { Services } from './services.js'

/** Services whose methods must never run while rendering: any call throws and names the culprit. */
export function unusedServices(): Services {
  return new Proxy({} as Services, {
    get(_target, service) {
      if (typeof service !== 'string' || service === 'then') return undefined
      return new Proxy(
        {},
        {
          get(_t, method) {
            if (typeof method !== 'string' || method === 'then') return undefined
            return () => {
              throw new Error(`renderOpenApi(): services.${service}.${method}() was called; building the app must not call services`)
            }
          },
        },
      )
    },
  })
}

/**
 * The OpenAPI 3.1 document of the native API, from the route schemas. Deterministic: fixed configuration
 * (never the environment), no I/O, version from package.json.
 */
export async function renderOpenApi(): Promise<Record<string, unknown>> {
  const config = loadConfig({})
  const app = await buildApp({ config, services: unusedServices(), log: pino({ level: 'silent' }) })
  try {
    await app.ready()
    return structuredClone(app.swagger()) as unknown as Record<string, unknown>
  } finally {
    await app.close()
  }
}
