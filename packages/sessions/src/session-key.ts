import { AppError } from '@openvesper/shared'

/** The longest session key, in Unicode code points after NFC normalisation. */
export const SESSION_KEY_MAX_LENGTH = 256

/**
 * The session key rule, as the API documents it and as every 400 for a bad key names it. Applied identically
 * wherever a key enters (a run's `sessionKey`, a session path, a fork or branch target) before it is stored or
 * looked up, so two spellings of one key never name two sessions.
 */
export const SESSION_KEY_RULE =
  'a session key is 1-256 Unicode characters (code points) after NFC normalisation; any character is allowed ' +
  'except control characters (U+0000-U+001F, U+007F-U+009F), the line and paragraph separators U+2028 and U+2029 ' +
  'and unpaired surrogates, and the key may not be exactly "." or ".." (URLs resolve them as path segments); ' +
  'keys are compared exactly after normalisation (case, spaces and format characters such as U+200D count)'

/** Control characters (Cc), the line/paragraph separators (Zl, Zp) and unpaired surrogates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is what this pattern is for
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u

/** Code points, not UTF-16 units: an emoji outside the BMP is one character. */
const codePoints = (s: string) => {
  let n = 0
  for (const _ of s) n++
  return n
}

export type SessionKeyCheck = { ok: true; key: string } | { ok: false; reason: string }

/** The key in its stored form (NFC), or why it breaks the rule. Pure. */
export function checkSessionKey(raw: string): SessionKeyCheck {
  if (typeof raw !== 'string') return { ok: false, reason: 'is not a string' }
  // Checked before normalising: String.prototype.normalize keeps unpaired surrogates, but be explicit.
  const bad = FORBIDDEN.exec(raw)
  if (bad) {
    const cp = bad[0].codePointAt(0)!
    return { ok: false, reason: `contains the forbidden character U+${cp.toString(16).toUpperCase().padStart(4, '0')}` }
  }
  const key = raw.normalize('NFC')
  const length = codePoints(key)
  if (length === 0) return { ok: false, reason: 'is empty' }
  if (length > SESSION_KEY_MAX_LENGTH) return { ok: false, reason: `is ${length} characters long after NFC normalisation (at most ${SESSION_KEY_MAX_LENGTH})` }
  if (key === '.' || key === '..') return { ok: false, reason: `is "${key}"` }
  return { ok: true, key }
}

/**
 * The key in its stored form, or a 400 `invalid_request` whose message states the rule; `field` names where the key
 * came from in the request (`params.key`, `body.sessionKey`).
 */
export function parseSessionKey(raw: string, field = 'sessionKey'): string {
  const checked = checkSessionKey(raw)
  if (checked.ok) return checked.key
  throw new AppError('invalid_request', `invalid session key: ${field} ${checked.reason}; ${SESSION_KEY_RULE}`, {
    details: { errors: [{ path: field, message: `${checked.reason}; ${SESSION_KEY_RULE}` }] },
  })
}
