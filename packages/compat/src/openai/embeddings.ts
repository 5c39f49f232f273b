import { type Static, Type } from 'typebox'
import { unsupported } from '../errors.js'
import { StringEnum } from '../schema.js'

/**
 * `POST /v1/embeddings`. `input` is a string, an array of strings, or token arrays (refused by the mapper: the
 * gateway embeds text). Unknown fields are accepted and ignored, as on chat completions.
 */
export const EmbeddingsRequestSchema = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Union([
    Type.String(),
    Type.Array(Type.String(), { minItems: 1, maxItems: 2048 }),
    Type.Array(Type.Integer({ minimum: 0, maximum: 2_147_483_647 }), { minItems: 1 }),
    Type.Array(Type.Array(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })), { minItems: 1 }),
  ]),
  encoding_format: Type.Optional(StringEnum(['float', 'base64'] as const)),
  dimensions: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
  user: Type.Optional(Type.String()),
})
export type EmbeddingsRequest = Static<typeof EmbeddingsRequestSchema>

export const EmbeddingSchema = Type.Object({
  object: Type.Literal('embedding'),
  index: Type.Integer(),
  /** Floats, or with `encoding_format: 'base64'` the little-endian float32 bytes in base64 (what the SDK decodes). */
  embedding: Type.Union([Type.Array(Type.Number()), Type.String()]),
})

export const EmbeddingsResponseSchema = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(EmbeddingSchema),
  model: Type.String(),
  usage: Type.Object({ prompt_tokens: Type.Integer(), total_tokens: Type.Integer() }),
})
export type EmbeddingsResponse = Static<typeof EmbeddingsResponseSchema>

export interface NeutralEmbeddingsRequest {
  model: string
  inputs: string[]
  dimensions?: number
  encoding: 'float' | 'base64'
}

export function embeddingsRequestToNeutral(body: EmbeddingsRequest): NeutralEmbeddingsRequest {
  const input = body.input
  let inputs: string[]
  if (typeof input === 'string') inputs = [input]
  else if (input.every((item): item is string => typeof item === 'string')) inputs = input
  else throw unsupported('input', 'token-array input is not supported; send text')
  return {
    model: body.model,
    inputs,
    ...(body.dimensions === undefined ? {} : { dimensions: body.dimensions }),
    encoding: body.encoding_format ?? 'float',
  }
}

export function toEmbeddingsResponse(
  vectors: readonly (readonly number[])[],
  meta: { model: string; encoding: 'float' | 'base64'; inputTokens: number },
): EmbeddingsResponse {
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding' as const,
      index,
      embedding: meta.encoding === 'base64' ? encodeEmbeddingBase64(vector) : [...vector],
    })),
    model: meta.model,
    usage: { prompt_tokens: meta.inputTokens, total_tokens: meta.inputTokens },
  }
}

/** The vector as little-endian float32 bytes in base64, as OpenAI sends `encoding_format: 'base64'`. */
export function encodeEmbeddingBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4)
  for (const [i, value] of vector.entries()) bytes.writeFloatLE(value, i * 4)
  return bytes.toString('base64')
}
