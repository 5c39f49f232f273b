import { parseSessionKey, SESSION_KEY_RULE } from '@openvesper/sessions'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'

/**
 * A session key wherever one enters the API (a run's `sessionKey`, the `{key}` of a session path, a fork or branch
 * target). The schema bounds and documents it; the rule itself (`@openvesper/sessions`, NFC first) is applied by
 * `normalizeSessionKeys` before validation, so every violation is a 400 that states the rule. 1024 code points: the
 * longest input that can still be 256 characters after NFC (a decomposed character composes from up to 4).
 */
export const SessionKeySchema = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: `Session key. Rule: ${SESSION_KEY_RULE}. In paths, percent-encode it (encodeURIComponent).`,
})

/**
 * A route's `preValidation` hook bringing its session keys (`params.<name>`, `body.<name>`) to their stored form, or
 * answering 400 with the key rule. Runs before schema validation, so the rule's message wins over the schema's.
 */
export function normalizeSessionKeys(fields: { params?: readonly string[]; body?: readonly string[] }) {
  return async (request: FastifyRequest): Promise<void> => {
    for (const [part, names] of [
      ['params', fields.params],
      ['body', fields.body],
    ] as const) {
      const values = request[part] as Record<string, unknown> | null | undefined
      if (!names || !values || typeof values !== 'object') continue
      for (const name of names) {
        const value = values[name]
        if (typeof value === 'string') values[name] = parseSessionKey(value, `${part}.${name}`)
      }
    }
  }
}
