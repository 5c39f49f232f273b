import { ID_PREFIXES, type IdKind } from '@openvesper/shared'
import { Type } from 'typebox'

/**
 * The path/body schema of an id made by `newId(kind)` (@openvesper/shared): its prefix, an underscore and
 * `minChars`-64 lowercase base36 characters (newId makes 21; `minChars` only loosens the check for older ids).
 */
export function idPattern(kind: IdKind, options: { description?: string; minChars?: number } = {}) {
  const { description, minChars = 8 } = options
  return Type.String({ pattern: `^${ID_PREFIXES[kind]}_[0-9a-z]{${minChars},64}$`, ...(description === undefined ? {} : { description }) })
}

/** An idempotency key: 1-255 visible ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7e]{1,255}$'
export const idempotencyKey = (description?: string) => Type.String({ pattern: IDEMPOTENCY_KEY_PATTERN, ...(description === undefined ? {} : { description }) })

/** The `Idempotency-Key` request header of creating routes. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(idempotencyKey('Makes creation idempotent: the same key returns the same run.')),
})

/** Paging query parameters of list routes: an opaque cursor from the previous page and a page size. */
export const CursorParam = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'Opaque cursor from the previous page (`nextCursor`).',
})
export const LimitParam = Type.Integer({ minimum: 1, maximum: 200, description: 'Page size (default 50).' })
export const PageQuery = { cursor: Type.Optional(CursorParam), limit: Type.Optional(LimitParam) }

/** Largest value of a Postgres `integer` column (sequence numbers, attempts, steps). */
export const INT4_MAX = 2_147_483_647

/** A resume cursor over a run's events (`run_events.seq`, an integer column): 0 to INT4_MAX, larger is a 400, not a database error. */
export const seqParam = (description?: string) => Type.Integer({ minimum: 0, maximum: INT4_MAX, ...(description === undefined ? {} : { description }) })
