import type { Config } from '@openvesper/config'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { TSchema } from 'typebox'
import type { Services } from '../services.js'
import type { RpcMethods } from './rpc.js'

/** What a feature's route plugin receives: only the services it declared, and the configuration. */
export interface FeatureOptions<S extends keyof Services> {
  services: Pick<Services, S>
  config: Config
}

/**
 * One route group (`routes/<group>/index.ts`): everything the app needs to mount it. The feature list
 * (`routes/index.ts`) derives the plugin registrations, the component list, the OpenAPI tags and the WebSocket
 * method table from these values; nothing else in the app names a group.
 */
export interface Feature<S extends keyof Services = keyof Services> {
  /** The OpenAPI tag every operation of the group uses (declared once, in feature-list order). */
  tag: { name: string; description: string }
  /** Named schemas (`$id` = component name) the group's routes reference with `ref()`. */
  components?: readonly TSchema[]
  /** The services its plugin and RPC methods call. */
  needs: readonly S[]
  plugin: FastifyPluginAsyncTypebox<FeatureOptions<S>>
  /** JSON-RPC methods served on `/ws` (`routes/<group>/rpc.ts`). */
  rpc?: RpcMethods<S>
  /** The methods' line in the `/ws` route's OpenAPI description (names, params, results). */
  rpcDescription?: string
}

/** A feature of any service set: the type of a list of features. */
// biome-ignore lint/suspicious/noExplicitAny: an existential type (each feature names its own services; the list holds them all)
export type AnyFeature = Feature<any>

/** Identity with inference: `needs` narrows what the plugin and the RPC methods may call. */
export function defineFeature<S extends keyof Services>(feature: Feature<S>): Feature<S> {
  return feature
}

/** The services a feature declared, taken from the whole set (a plugin never sees the others). */
export function pickServices<S extends keyof Services>(services: Services, needs: readonly S[]): Pick<Services, S> {
  return Object.fromEntries(needs.map((name) => [name, services[name]])) as Pick<Services, S>
}
