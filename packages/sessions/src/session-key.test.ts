import { isAppError } from '@openvesper/shared'
import { describe, expect, it } from 'vitest'
import { checkSessionKey, parseSessionKey, SESSION_KEY_RULE } from './session-key.js'

const ok = (raw: string) => {
  const r = checkSessionKey(raw)
  if (!r.ok) throw new Error(`expected ${JSON.stringify(raw)} to be accepted: ${r.reason}`)
  return r.key
}
const refused = (raw: string) => {
  const r = checkSessionKey(raw)
  if (r.ok) throw new Error(`expected ${JSON.stringify(raw)} to be refused`)
  return r.reason
}

describe('the session key rule', () => {
  it('accepts any printable text: spaces, slashes, punctuation, unicode, emoji, format characters', () => {
    for (const key of ['a', 'a b', ' leading and trailing ', 'a/b', '../x', '?#%&+=', 'ключ', '键', '🙂', '👨‍👩‍👧', 'a\u200db', '\u202eevil', '...']) {
      expect(ok(key)).toBe(key.normalize('NFC'))
    }
  })

  it('stores the NFC form, so NFC and NFD spellings are one key', () => {
    const nfd = 'Cafe\u0301'
    const nfc = 'Caf\u00e9'
    expect(ok(nfd)).toBe(nfc)
    expect(ok(nfc)).toBe(nfc)
    // Hangul: three jamo compose to one syllable.
    expect(ok('\u1112\u1161\u11ab')).toBe('\ud55c')
  })

  it('does not fold case or trim', () => {
    expect(ok('Key')).not.toBe(ok('key'))
    expect(ok(' key')).toBe(' key')
  })

  it('counts code points after normalisation: 256 is the limit', () => {
    expect(ok('x'.repeat(256))).toHaveLength(256)
    expect(refused('x'.repeat(257))).toMatch(/257 characters/)
    // 256 emoji are 512 UTF-16 units but 256 characters.
    expect(ok('🙂'.repeat(256))).toHaveLength(512)
    expect(refused('🙂'.repeat(257))).toMatch(/257 characters/)
    // 300 decomposed characters (600 code points) are 300 after NFC: still too long; 256 of them fit.
    expect(ok('e\u0301'.repeat(256))).toBe('\u00e9'.repeat(256))
    expect(refused('e\u0301'.repeat(300))).toMatch(/300 characters/)
  })

  it('refuses empty keys, control characters, line separators, unpaired surrogates and the dot segments', () => {
    expect(refused('')).toBe('is empty')
    for (const c of ['\u0000', '\u0007', '\t', '\n', '\r', '\u001f', '\u007f', '\u0085', '\u009f', '\u2028', '\u2029']) {
      expect(refused(`a${c}b`)).toMatch(/forbidden character U\+/)
    }
    expect(refused('a\ud800b')).toMatch(/U\+D800/)
    expect(refused('a\udc00')).toMatch(/U\+DC00/)
    expect(refused('.')).toBe('is "."')
    expect(refused('..')).toBe('is ".."')
  })

  it('parseSessionKey throws a 400 invalid_request that names the field and the rule', () => {
    expect(parseSessionKey('Cafe\u0301')).toBe('Caf\u00e9')
    try {
      parseSessionKey('a\nb', 'params.key')
      throw new Error('not thrown')
    } catch (err) {
      expect(isAppError(err) && err.code).toBe('invalid_request')
      expect((err as Error).message).toContain('params.key')
      expect((err as Error).message).toContain(SESSION_KEY_RULE)
      expect((err as { details: { errors: { path: string }[] } }).details.errors[0]!.path).toBe('params.key')
    }
  })
})
