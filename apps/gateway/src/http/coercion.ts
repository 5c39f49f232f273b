import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * Ajv options of the app. Nothing is coerced by the validator (A17/A18): Fastify's default `coerceTypes: 'array'`
 * would accept `{"scopes":"admin"}` as `["admin"]` and `{"timeoutMs":"5"}` as 5 in JSON bodies, which have real
 * types. Query strings, path parameters and headers only carry strings; `registerInputCoercion` converts those
 * parts before validation. Unknown properties stay errors (`removeAdditional: false`); validation stops at the first
 * error (`allErrors: true` is a DoS vector).
 */
export const AJV_CUSTOM_OPTIONS = { coerceTypes: false, removeAdditional: false, allErrors: false } as const

type JsonSchema = Record<string, unknown>

/** The request parts that arrive as strings, and where Fastify keeps them on the request. */
const STRING_PARTS = [
  ['querystring', 'query'],
  ['params', 'params'],
  ['headers', 'headers'],
] as const

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/**
 * Ajv's `coerceTypes: 'array'` rules for one value and its schema: a string becomes the number, integer, boolean or
 * null it spells exactly; a scalar becomes a one-element array where an array is expected (items converted too); a
 * one-element array becomes its element where a scalar is expected. Anything else is returned unchanged, for the
 * validator to reject with its usual message.
 */
function coerce(resolve: (schema: unknown) => JsonSchema | undefined, schemaRef: unknown, input: unknown): unknown {
  const schema = resolve(schemaRef)
  const declared = schema?.type
  const types = typeof declared === 'string' ? [declared] : Array.isArray(declared) ? (declared as string[]) : []
  if (types.length === 0) return input
  const actual = jsonType(input)
  if (types.includes(actual) || (actual === 'number' && types.includes('integer'))) {
    return actual === 'array' && schema?.items !== undefined ? (input as unknown[]).map((item) => coerce(resolve, schema.items, item)) : input
  }
  if (types.includes('array') && actual !== 'array') return [coerce(resolve, schema?.items, input)]
  const value = actual === 'array' && (input as unknown[]).length === 1 ? (input as unknown[])[0] : input
  if (typeof value !== 'string') return value === input ? input : coerce(resolve, schema, value)
  for (const type of types) {
    if ((type === 'number' || type === 'integer') && NUMBER.test(value)) return Number(value)
    if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true'
    if (type === 'null' && value === '') return null
    if (type === 'string') return value
  }
  return input
}

/**
 * Converts the declared properties of the querystring, params and headers schemas to their schema types before
 * validation (`?after=3` → 3), as Ajv's coercion did, while bodies reach the (non-coercing) validator untouched.
 * Register before any route.
 */
export function registerInputCoercion(app: FastifyInstance): void {
  /** Schemas may be `{ $ref: '<id>#' }` references to shared components (see components.ts). */
  const resolve = (schema: unknown): JsonSchema | undefined => {
    if (!schema || typeof schema !== 'object') return undefined
    const ref = (schema as JsonSchema).$ref
    if (typeof ref !== 'string') return schema as JsonSchema
    const target = app.getSchema(ref.replace(/#$/, ''))
    return target && typeof target === 'object' ? (target as JsonSchema) : undefined
  }

  app.addHook('preValidation', async (request: FastifyRequest) => {
    const schema = request.routeOptions.schema as Record<string, unknown> | undefined
    if (!schema) return
    for (const [part, field] of STRING_PARTS) {
      const properties = resolve(schema[part])?.properties
      const target = (request as unknown as Record<string, unknown>)[field]
      if (!properties || typeof properties !== 'object' || !target || typeof target !== 'object') continue
      const values = target as Record<string, unknown>
      for (const [name, propertySchema] of Object.entries(properties)) {
        const key = part === 'headers' ? name.toLowerCase() : name
        if (Object.hasOwn(values, key)) values[key] = coerce(resolve, propertySchema, values[key])
      }
    }
  })
}
