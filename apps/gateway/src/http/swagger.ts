import { readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** Swagger UI lives here; auth.ts gives its routes the docs policy (public only with OPENVESPER_DOCS_PUBLIC). */
export const DOCS_PREFIX = '/docs'

/** Same file from `src/http` and `dist/http`: the gateway package.json. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
}

/**
 * @fastify/swagger (OpenAPI 3.1, components named after `$id`) and Swagger UI at /docs. Register before any route.
 * `tags`: every tag an operation may use, declared once with a description (order = order in the UI).
 */
export async function registerSwagger(app: FastifyInstance, tags: readonly { name: string; description: string }[]): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OpenVesper Gateway API',
        version: packageVersion(),
        description:
          'Native HTTP API of the OpenVesper gateway. Every operation needs `Authorization: Bearer <token>` except `GET /health`. Errors are RFC 9457 problem details (`application/problem+json`).',
      },
      servers: [{ url: 'http://127.0.0.1:18789' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer' },
          apiKeyAuth: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The gateway token in x-api-key (Anthropic-compatible routes only).' },
        },
      },
      tags: [...tags],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: true })
}
