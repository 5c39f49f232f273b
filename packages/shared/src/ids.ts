import { randomBytes } from 'node:crypto'

export const ID_PREFIXES = {
  run: 'run',
  session: 'ses',
  message: 'msg',
  token: 'tok',
  principal: 'prn',
  worker: 'wrk',
} as const
export type IdKind = keyof typeof ID_PREFIXES

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/** A sortable-enough, URL-safe id: `<prefix>_<time base36><random base36>`. */
export function newId(kind: IdKind): string {
  const time = Date.now().toString(36).padStart(9, '0')
  const bytes = randomBytes(12)
  let rand = ''
  for (const b of bytes) rand += ALPHABET[b % 36]
  return `${ID_PREFIXES[kind]}_${time}${rand}`
}

/** Ids accepted in paths: prefix, underscore, 8-64 lowercase alphanumerics. */
export const ID_PATTERN = '^[a-z]{3}_[0-9a-z]{8,64}$'
export const isId = (kind: IdKind, value: string): boolean =>
  new RegExp(`^${ID_PREFIXES[kind]}_[0-9a-z]{8,64}$`).test(value)
