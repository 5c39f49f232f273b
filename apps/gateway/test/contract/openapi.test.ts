import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compileErrors, validate } from '@readme/openapi-parser'
import { beforeAll, describe, expect, it } from 'vitest'
import { PROBLEM_CONTENT_TYPE, PROBLEM_STATUSES } from '../../src/http/errors.js'
import { renderOpenApi } from '../../src/openapi.js'

const SPEC_FILE = fileURLToPath(new URL('../../../../openapi/openapi.json', import.meta.url))
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']

type Doc = Record<string, any>

function operations(doc: Doc): { key: string; op: Doc }[] {
  return Object.entries(doc.paths as Record<string, Doc>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op: op as Doc })),
  )
}

describe('openapi/openapi.json', () => {
  let doc: Doc

  beforeAll(async () => {
    doc = await renderOpenApi()
  })

  it('is up to date with the route schemas', async () => {
    const committed = await readFile(SPEC_FILE, 'utf8').catch(() => '')
    const fresh = `${JSON.stringify(doc, null, 2)}\n`
    expect(committed === fresh, 'openapi/openapi.json is stale: run `pnpm openapi:generate` and commit it').toBe(true)
  })

  it('renders deterministically', async () => {
    expect(JSON.stringify(await renderOpenApi())).toBe(JSON.stringify(doc))
  })

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(structuredClone(doc) as never)
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true)
    expect(doc.openapi).toBe('3.1.0')
  })

  it('declares the bearer scheme and the Problem component', () => {
    expect(doc.components.securitySchemes).toEqual({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      apiKeyAuth: { type: 'apiKey', in: 'header', name: 'x-api-key', description: expect.any(String) },
    })
    expect(doc.components.schemas.Problem.required).toEqual(expect.arrayContaining(['type', 'title', 'status', 'code', 'detail', 'requestId']))
  })

  it('names components after their $id, never def-N', () => {
    expect(Object.keys(doc.components.schemas).filter((name) => /^def-\d+$/.test(name))).toEqual([])
  })

  it('gives every operation an operationId, summary, tags and security', () => {
    const ops = operations(doc)
    expect(ops.length).toBeGreaterThan(0)
    const declaredTags = new Set((doc.tags as Doc[]).map((t) => t.name))
    for (const { key, op } of ops) {
      expect(op.operationId, key).toMatch(/^[a-z][a-zA-Z0-9]*$/)
      expect(op.summary, key).toEqual(expect.any(String))
      expect(op.tags?.length, key).toBeGreaterThan(0)
      for (const tag of op.tags) expect(declaredTags.has(tag), `${key}: undeclared tag ${tag}`).toBe(true)
      expect(Array.isArray(op.security), `${key} has no security`).toBe(true)
      if (key === 'GET /health') expect(op.security).toEqual([])
      else if (/ \/anthropic\/v1\//.test(key)) expect(op.security, key).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }])
      else expect(op.security, key).toEqual([{ bearerAuth: [] }])
    }
  })

  it('documents every 4xx/5xx response of every operation with the Problem component (the OpenAI error on /v1)', () => {
    for (const { key, op } of operations(doc)) {
      // Compat surfaces answer errors in the provider's shape (their own error handler).
      const [contentType, component] = / \/v1\//.test(key)
        ? ['application/json', '#/components/schemas/OpenAI.Error']
        : / \/anthropic\/v1\//.test(key)
          ? ['application/json', '#/components/schemas/Anthropic.Error']
          : [PROBLEM_CONTENT_TYPE, '#/components/schemas/Problem']
      for (const status of PROBLEM_STATUSES) {
        const response = op.responses?.[String(status)]
        expect(response, `${key} ${status}`).toBeDefined()
        expect(response.content?.[contentType]?.schema, `${key} ${status}`).toEqual({ $ref: component })
      }
      const errorStatuses = Object.keys(op.responses).filter((s) => /^[45]/.test(s))
      for (const status of errorStatuses) expect(JSON.stringify(op.responses[status]), `${key} ${status}`).toContain(component)
    }
  })

  it('declares the OpenAI wire schemas as OpenAI.* components', () => {
    for (const name of ['OpenAI.ChatCompletionRequest', 'OpenAI.ChatCompletion', 'OpenAI.ChatCompletionChunk', 'OpenAI.ModelList', 'OpenAI.Error'])
      expect(doc.components.schemas[name], name).toBeDefined()
  })
})
