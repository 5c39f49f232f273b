import type { FastifyInstance } from 'fastify'
import { type Static, type TSchema, Type } from 'typebox'

/**
 * A reference to a named component: `{ $ref: '<$id>#' }`, keeping the static type for the type provider.
 * With the swagger `refResolver` (see swagger.ts) it becomes `#/components/schemas/<$id>` in the document.
 */
export function ref<T extends TSchema>(schema: T) {
  const id = (schema as { $id?: unknown }).$id
  if (typeof id !== 'string' || id.length === 0) throw new Error('ref() needs a schema with $id')
  return Type.Unsafe<Static<T>>({ $ref: `${id}#` })
}

/**
 * Registers named API schemas (each with `$id` equal to its component name) once, at the root, before any
 * route. Throws on a missing or duplicated `$id` so two features cannot claim one component name.
 */
export function registerComponents(app: FastifyInstance, schemas: readonly TSchema[]): void {
  const seen = new Set<string>()
  for (const schema of schemas) {
    const id = (schema as { $id?: unknown }).$id
    if (typeof id !== 'string' || id.length === 0) throw new Error('component schemas need an $id')
    if (seen.has(id)) throw new Error(`component ${id} is registered twice`)
    seen.add(id)
    app.addSchema(schema)
  }
}
