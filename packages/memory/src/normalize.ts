import { createHash } from 'node:crypto'

/**
 * The dedupe rule: two texts are the same memory when they are equal after Unicode compatibility normalisation
 * (NFKC), case folding and collapsing whitespace. The stored text is always the caller's, verbatim.
 */
export function normalizeMemoryText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim()
}

/** The `dedupe_hash` of a text: sha-256 of its normalised form, hex. */
export function dedupeHash(text: string): string {
  return createHash('sha256').update(normalizeMemoryText(text), 'utf8').digest('hex')
}
