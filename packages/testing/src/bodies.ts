/**
 * Request bodies of hostile shapes and a given size (issue 15: request parsing cost), for the HTTP hardening tests and
 * the `parse` bench scenario. Each is valid JSON of at most `bytes` bytes.
 */
export interface ShapedBody {
  name: string
  body: string
}

const fill = (bytes: number, open: string, close: string, middle = '') => {
  const n = Math.max(1, Math.floor((bytes - middle.length) / (open.length + close.length)))
  return `${open.repeat(n)}${middle}${close.repeat(n)}`
}

/** Repeats `item` (comma-separated) inside `head` … `tail` up to `bytes`. */
const list = (bytes: number, head: string, item: (i: number) => string, tail: string) => {
  const parts: string[] = []
  let size = head.length + tail.length
  for (let i = 0; ; i++) {
    const next = item(i)
    if (size + next.length + 1 > bytes) break
    parts.push(next)
    size += next.length + 1
  }
  return `${head}${parts.join(',')}${tail}`
}

export function hostileBodies(bytes: number): ShapedBody[] {
  return [
    { name: 'deeply nested arrays', body: fill(bytes, '[', ']') },
    { name: 'deeply nested objects', body: fill(bytes, '{"a":', '}', '1') },
    { name: 'deep nesting under a valid field', body: `{"message":"x","metadata":${fill(bytes - 40, '{"a":', '}', '1')}}` },
    { name: 'huge array of numbers', body: list(bytes, '{"message":"x","scopes":[', () => '0', ']}') },
    { name: 'huge array of empty objects', body: list(bytes, '[', () => '{}', ']') },
    { name: 'many distinct keys', body: list(bytes, '{', (i) => `"k${i}":0`, '}') },
    { name: 'many __proto__ keys', body: list(bytes, '{"message":"x","a":[', () => '{"__proto__":{"polluted":true}}', ']}') },
    { name: 'many constructor.prototype keys', body: list(bytes, '[', () => '{"constructor":{"prototype":{"polluted":true}}}', ']') },
    { name: '__proto__ at the end of a large body', body: `${list(bytes - 40, '{"message":"x","k":[', () => '1', ']')},"__proto__":{"x":1}}` },
    { name: 'long string of escapes', body: `{"message":"${'\\u0000'.repeat(Math.floor((bytes - 20) / 6))}"}` },
    { name: 'many long numbers', body: list(bytes, '[', () => '1.7976931348623157e308', ']') },
  ]
}

/** An ordinary body of about `bytes` bytes: one run message of plain text. */
export function ordinaryBody(bytes: number): string {
  return JSON.stringify({ message: 'lorem ipsum '.repeat(Math.floor((bytes - 20) / 12)) })
}
