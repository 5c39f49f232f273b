/**
 * Text as Postgres can store it: NUL and unpaired surrogates become U+FFFD. Applied to whatever comes from
 * outside our validation (model output, tool results), so odd upstream bytes never fail a write.
 */
export function storableText(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed()
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\ufffd') : wellFormed
}
