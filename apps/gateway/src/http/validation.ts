import AjvCompiler from '@fastify/ajv-compiler'
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify'

/**
 * Ajv options shared by every request part: unknown properties stay errors (`removeAdditional: false`) and
 * validation stops at the first error (`allErrors: true` is a DoS vector).
 */
const SHARED_OPTIONS = { removeAdditional: false, allErrors: false } as const

/**
 * JSON bodies have real types and are never coerced (A17/A18): Fastify's default `coerceTypes: 'array'` would
 * accept `{"scopes":"admin"}` as `["admin"]` and `{"timeoutMs":"5"}` as 5.
 */
export const AJV_BODY_OPTIONS = { ...SHARED_OPTIONS, coerceTypes: false } as const

/** Query strings, path parameters and headers only carry strings: `?after=3` becomes 3, `?x=a` an array where one is declared. */
export const AJV_STRING_PART_OPTIONS = { ...SHARED_OPTIONS, coerceTypes: 'array' } as const

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>
type RouteSchema = Parameters<FastifySchemaCompiler<unknown>>[0]

/**
 * Fastify's `schemaController.compilersFactory.buildValidator`: two Ajv instances from `@fastify/ajv-compiler`
 * (the one Fastify itself uses), a strict one for bodies and a coercing one for the string parts of a request,
 * chosen by the route part being compiled. One pool per app, as Fastify's default factory.
 */
export function createValidatorFactory(): BuildValidator {
  const pool = AjvCompiler()
  /** Fastify passes its `ajv` server options (`customOptions`, `plugins`); only the per-part options are added. */
  type PoolOptions = { customOptions?: object }
  const compiler = (externalSchemas: Parameters<BuildValidator>[0], options: PoolOptions, part: object) =>
    pool(externalSchemas, {
      ...options,
      customOptions: { ...options.customOptions, ...part },
    } as Parameters<BuildValidator>[1]) as unknown as FastifySchemaCompiler<unknown>
  const factory = (externalSchemas: Parameters<BuildValidator>[0], options?: PoolOptions) => {
    const body = compiler(externalSchemas, options ?? {}, AJV_BODY_OPTIONS)
    const strings = compiler(externalSchemas, options ?? {}, AJV_STRING_PART_OPTIONS)
    return (route: RouteSchema) => (route.httpPart === 'body' ? body(route) : decimalOnly(route.schema, strings(route)))
  }
  return factory as unknown as BuildValidator
}

/** What a number spells in a query string, path or header: plain decimal notation, nothing Ajv's `+value` would also take. */
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/
/** Stands in for a value Ajv must not coerce: no type accepts it, so Ajv reports its usual type error at that path. */
const NOT_A_NUMBER = Symbol('not a decimal number')

type Validate = FastifySchemaCompiler<unknown> extends (...args: never[]) => infer V ? V : never

/**
 * Ajv coerces any string with `value == +value` to a number (`0x10`, `0b1`, ` 3`, `Infinity`); the API accepts
 * only decimal notation for numeric parameters. Such values of the schema's numeric properties are hidden from
 * the coercion for the validation (and put back afterwards), so the error is Ajv's own.
 */
function decimalOnly(schema: unknown, validate: Validate): Validate {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {}
  const numeric = Object.entries(properties)
    .filter(([, p]) => p.type === 'number' || p.type === 'integer')
    .map(([name]) => name)
  if (numeric.length === 0) return validate
  const notDecimal = (value: unknown) =>
    (typeof value === 'string' && !DECIMAL.test(value)) || (Array.isArray(value) && value.some((item) => typeof item === 'string' && !DECIMAL.test(item)))
  const guarded = ((data: Record<string, unknown> | null, ...rest: unknown[]) => {
    const hidden = data && typeof data === 'object' ? numeric.filter((name) => notDecimal(data[name])) : []
    const originals = hidden.map((name) => data![name])
    for (const name of hidden) data![name] = NOT_A_NUMBER
    try {
      return (validate as (...args: unknown[]) => unknown)(data, ...rest)
    } finally {
      hidden.forEach((name, i) => {
        data![name] = originals[i]
      })
      guarded.errors = (validate as { errors?: unknown }).errors
    }
  }) as ((...args: unknown[]) => unknown) & { errors?: unknown; schemaEnv?: unknown }
  // Fastify passes the parent object (for Ajv to coerce a root value) only to functions that carry it.
  guarded.schemaEnv = (validate as { schemaEnv?: unknown }).schemaEnv
  return guarded as unknown as Validate
}
