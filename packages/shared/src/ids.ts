import { randomFillSync } from 'node:crypto'

export const ID_PREFIXES = {
  run: 'run',
  session: 'ses',
  message: 'msg',
  token: 'tok',
  principal: 'prn',
  worker: 'wrk',
  task: 'tsk',
  taskFire: 'tfr',
  standingOrder: 'sto',
  commitment: 'cmt',
  approval: 'apr',
  rule: 'rul',
  memory: 'mem',
} as const
export type IdKind = keyof typeof ID_PREFIXES

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/** Random bytes drawn a pool at a time: one call into the CSPRNG per ~200 ids instead of one per id. */
const pool = Buffer.alloc(4096)
let poolOffset = pool.length
function randomByte(): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  return pool[poolOffset++]!
}

/** 252 = 7 × 36: bytes at or above it are skipped, so every character is equally likely. */
const UNBIASED_LIMIT = 252
const RANDOM_CHARS = 12

/** A sortable-enough, URL-safe id: `<prefix>_<time base36><12 random base36 characters>`. */
export function newId(kind: IdKind): string {
  const time = Date.now().toString(36).padStart(9, '0')
  let rand = ''
  while (rand.length < RANDOM_CHARS) {
    const b = randomByte()
    if (b < UNBIASED_LIMIT) rand += ALPHABET[b % 36]
  }
  return `${ID_PREFIXES[kind]}_${time}${rand}`
}

/** Ids accepted in paths: prefix, underscore, 8-64 lowercase alphanumerics. */
export const ID_PATTERN = '^[a-z]{3}_[0-9a-z]{8,64}$'
export const isId = (kind: IdKind, value: string): boolean => new RegExp(`^${ID_PREFIXES[kind]}_[0-9a-z]{8,64}$`).test(value)
