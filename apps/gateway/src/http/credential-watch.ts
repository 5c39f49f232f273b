import type { TokensService } from '@openvesper/access'

/** How often an open stream (SSE, WebSocket) re-checks that its token is still valid. */
export const CREDENTIAL_RECHECK_MS = 2000

/**
 * Calls `onRevoked` once when the token behind a long-lived connection is revoked, so revocation ends
 * open streams within seconds instead of at their natural end. Returns the function that stops watching.
 */
export function watchCredential(tokens: TokensService, tokenId: string, onRevoked: () => void, intervalMs = CREDENTIAL_RECHECK_MS): () => void {
  let stopped = false
  const timer = setInterval(() => {
    tokens.isActive(tokenId).then(
      (active) => {
        if (!active && !stopped) {
          stop()
          onRevoked()
        }
      },
      () => {}, // a database hiccup is not a revocation; the next check decides
    )
  }, intervalMs)
  timer.unref()
  const stop = () => {
    stopped = true
    clearInterval(timer)
  }
  return stop
}
