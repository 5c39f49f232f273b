import { type TSchema, Type } from 'typebox'

/**
 * Small TypeBox helpers for the wire schemas. Both wire formats mark many optional fields `| null` and the
 * SDKs (and LangChain, LiteLLM clients…) do send explicit `null`s, so an optional field that the provider's own
 * API declares nullable is `Optional(Nullable(T))` here: a `null` means "not set".
 */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** A closed set of strings, as a JSON Schema `enum` (one line in the OpenAPI document, one error message). */
export const StringEnum = <const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })

/** Metadata as both APIs define it: string keys to string values. */
export const MetadataSchema = Type.Record(Type.String(), Type.String())
