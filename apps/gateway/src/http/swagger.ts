import { readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** Swagger UI lives here; auth.ts gives its routes the docs policy (public only with OPENVESPER_DOCS_PUBLIC). */
export const DOCS_PREFIX = '/docs'

/** Every tag an operation may use, declared once with a description (order = order in the UI). */
export const TAGS = [
  { name: 'Runs', description: 'Agent execution: synchronous, asynchronous and streamed runs, their status, waiting and cancellation.' },
  { name: 'Tokens', description: 'Bearer token management (admin).' },
  { name: 'System', description: 'Liveness.' },
]

/** Same file from `src/http` and `dist/http`: the gateway package.json. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
}

/** @fastify/swagger (OpenAPI 3.1, components named after `$id`) and Swagger UI at /docs. Register before any route. */
export async function registerSwagger(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OpenVesper Gateway API',
        version: packageVersion(),
        description: 'Native HTTP API of the OpenVesper gateway. Every operation needs `Authorization: Bearer <token>` except `GET /health`. Errors are RFC 9457 problem details (`application/problem+json`).',
      },
      servers: [{ url: 'http://127.0.0.1:18789' }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      tags: TAGS,
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: true })
}
