import { AppError } from '@openvesper/shared'
import type { FastifyInstance } from 'fastify'

/**
 * Shape limits of a JSON body or WebSocket message, checked in one linear pass before it is parsed. V8's JSON.parse
 * takes time that grows faster than the input for some shapes: a 1 MiB `[[[…]]]` blocks the event loop for over a
 * second, 1 MiB of `[0,0,…]` or of `{"k0":0,"k1":0,…}` for hundreds of milliseconds. No request of this API comes
 * near these limits; past one the request is a 400 and is never parsed.
 */
export const JSON_LIMITS = {
  /** Nesting of arrays and objects. */
  maxDepth: 64,
  /** Values in the whole document (array items and object members). */
  maxValues: 20_000,
  /** Members of one object. */
  maxKeys: 1_000,
} as const

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_BRACKET = 0x5b
const OPEN_BRACE = 0x7b
const CLOSE_BRACKET = 0x5d
const CLOSE_BRACE = 0x7d

/**
 * Which limit `text` breaks, if any (structure inside strings does not count). One pass, no allocation beyond a
 * counter per open object. Invalid JSON that breaks no limit is left to the parser.
 */
export function jsonShapeProblem(text: string, limits: typeof JSON_LIMITS = JSON_LIMITS): string | undefined {
  let depth = 0
  let values = 0
  let inString = false
  /** Members of each open container (objects count colons), by depth. */
  const keys: number[] = []
  const isObject: boolean[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
      continue
    }
    if (c === QUOTE) inString = true
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > limits.maxDepth) return `JSON nested deeper than ${limits.maxDepth} levels`
      keys[depth] = 0
      isObject[depth] = c === OPEN_BRACE
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--
    else if (c === COMMA || c === COLON) {
      if (++values > limits.maxValues) return `JSON with more than ${limits.maxValues} values`
      if (c === COLON && isObject[depth] && ++keys[depth]! > limits.maxKeys) return `JSON object with more than ${limits.maxKeys} members`
    }
  }
  return undefined
}

/**
 * `application/json` bodies: Fastify's own parser (prototype and constructor poisoning refused, as configured), after
 * the shape check (JSON_LIMITS) that bounds what parsing one body within the size limit may cost.
 */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const problem = jsonShapeProblem(body as string)
    if (problem) return done(new AppError('invalid_request', problem), undefined)
    return parse(request, body as string, done)
  })
}
