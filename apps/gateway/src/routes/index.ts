import { type AnyFeature, pickServices } from '../http/feature.js'
import type { AnyRpcMethod } from '../http/rpc.js'
import type { Services } from '../services.js'
import { anthropicFeature } from './anthropic/index.js'
import { commitmentsFeature } from './commitments/index.js'
import { heartbeatFeature } from './heartbeat/index.js'
import { approvalsFeature } from './approvals/index.js'
import { auditFeature } from './audit/index.js'
import { memoryFeature } from './memory/index.js'
import { openaiFeature } from './openai/index.js'
import { runsFeature } from './runs/index.js'
import { sessionsFeature } from './sessions/index.js'
import { standingOrdersFeature } from './standing-orders/index.js'
import { systemFeature } from './system/index.js'
import { tasksFeature } from './tasks/index.js'
import { tokensFeature } from './tokens/index.js'

/**
 * Every route group, in the order of the OpenAPI tags (and of the routes in the document). Adding a group is one
 * line here: its registration, components, tag and WebSocket methods are derived from its feature value.
 */
export const FEATURES: readonly AnyFeature[] = [
  runsFeature,
  sessionsFeature,
  tokensFeature,
  openaiFeature,
  anthropicFeature,
  systemFeature,
  tasksFeature,
  standingOrdersFeature,
  commitmentsFeature,
  heartbeatFeature,
  approvalsFeature,
  auditFeature,
  memoryFeature,
]

/** The OpenAPI tags, one per feature, in list order. */
export const featureTags = (features: readonly AnyFeature[]) => features.map((f) => f.tag)

/** Every named component the features declare. */
export const featureComponents = (features: readonly AnyFeature[]) => features.flatMap((f) => f.components ?? [])

/** What the `/ws` methods of every feature do, for the route's OpenAPI description. */
export const featureRpcDescription = (features: readonly AnyFeature[]) => features.flatMap((f) => f.rpcDescription ?? []).join(' ')

/** The `/ws` method table: each method with the services of the feature that declared it. Two features may not claim one name. */
export function featureRpc(features: readonly AnyFeature[], services: Services) {
  const table: Record<string, { method: AnyRpcMethod; services: Partial<Services> }> = {}
  for (const feature of features) {
    const picked = pickServices(services, feature.needs)
    for (const [name, method] of Object.entries(feature.rpc ?? {})) {
      if (Object.hasOwn(table, name)) throw new Error(`JSON-RPC method ${name} is declared by two features`)
      table[name] = { method, services: picked }
    }
  }
  return table
}
