import createClient, { type Client } from 'openapi-fetch'
import type { paths } from './schema.js'

export type { paths, components, operations } from './schema.js'
export type OpenVesperClient = Client<paths>

/** A typed client for the gateway, generated from openapi/openapi.json. */
export function createOpenVesperClient(options: { baseUrl: string; token?: string; fetch?: typeof fetch }): OpenVesperClient {
  return createClient<paths>({
    baseUrl: options.baseUrl,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    fetch: options.fetch,
  })
}
