import { AppError } from '@openvesper/shared'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { EmbeddingsRequestSchema, EmbeddingsResponseSchema, embeddingsRequestToNeutral, encodeEmbeddingBase64, toEmbeddingsResponse } from './embeddings.js'
import { OpenAIModelListSchema, toOpenAIModelList } from './models.js'

const request = Compile(EmbeddingsRequestSchema)
const response = Compile(EmbeddingsResponseSchema)

describe('embeddings', () => {
  it('accepts what openai-node 6 sends (it asks for base64 by default) and maps string and array input', () => {
    const sdk = { model: 'openai/text-embedding-3-small', input: 'hello', encoding_format: 'base64' }
    expect(request.Check(sdk)).toBe(true)
    expect(embeddingsRequestToNeutral(sdk as never)).toEqual({ model: 'openai/text-embedding-3-small', inputs: ['hello'], encoding: 'base64' })
    const many = { model: 'm', input: ['a', 'b'], dimensions: 256, user: 'u' }
    expect(request.Check(many)).toBe(true)
    expect(embeddingsRequestToNeutral(many as never)).toEqual({ model: 'm', inputs: ['a', 'b'], dimensions: 256, encoding: 'float' })
  })

  it('refuses token arrays, naming input', () => {
    const body = { model: 'm', input: [1, 2, 3] }
    expect(request.Check(body)).toBe(true)
    expect(() => embeddingsRequestToNeutral(body as never)).toThrow(AppError)
    expect(request.Check({ model: 'm', input: [] })).toBe(false)
    expect(request.Check({ model: 'm', input: 'x', encoding_format: 'int8' })).toBe(false)
  })

  it('encodes base64 as little-endian float32, which the SDK decodes back to the floats', () => {
    const vector = [0.5, -1.25, 3]
    const encoded = encodeEmbeddingBase64(vector)
    const bytes = Buffer.from(encoded, 'base64')
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4))).toEqual(vector)
  })

  it('builds the list response in either encoding', () => {
    const floats = toEmbeddingsResponse([[0.5], [1]], { model: 'm', encoding: 'float', inputTokens: 3 })
    expect(response.Check(floats)).toBe(true)
    expect(floats).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5] },
        { object: 'embedding', index: 1, embedding: [1] },
      ],
      model: 'm',
      usage: { prompt_tokens: 3, total_tokens: 3 },
    })
    const b64 = toEmbeddingsResponse([[0.5]], { model: 'm', encoding: 'base64', inputTokens: 1 })
    expect(response.Check(b64)).toBe(true)
    expect(b64.data[0]?.embedding).toBe(encodeEmbeddingBase64([0.5]))
  })
})

describe('models list', () => {
  it('lists agents and provider models, each marked which', () => {
    const list = toOpenAIModelList([
      { id: 'main', kind: 'agent' },
      { id: 'openai/gpt-4o-mini', kind: 'model', provider: 'openai', created: 1_700_000_000 },
    ])
    expect(Compile(OpenAIModelListSchema).Check(list)).toBe(true)
    expect(list).toEqual({
      object: 'list',
      data: [
        { id: 'main', object: 'model', created: 0, owned_by: 'openvesper', kind: 'agent' },
        { id: 'openai/gpt-4o-mini', object: 'model', created: 1_700_000_000, owned_by: 'openai', kind: 'model' },
      ],
    })
  })
})
