import type { TokensService } from '@openvesper/access'

/** How often an open stream (SSE, WebSocket) re-checks that its token is still valid. */
export const CREDENTIAL_RECHECK_MS = 2000

interface Watcher {
  onRevoked: () => void
}

/** The watchers of one tokens service: one timer per process and one check per distinct token per tick, whatever the number of streams. */
interface Registry {
  byToken: Map<string, Set<Watcher>>
  timer: NodeJS.Timeout | undefined
  intervalMs: number
}
const registries = new WeakMap<TokensService, Registry>()

function tick(tokens: TokensService, registry: Registry): void {
  for (const [tokenId, watchers] of registry.byToken) {
    tokens.isActive(tokenId).then(
      (active) => {
        if (active) return
        // Those still watching this token (a stream that stopped meanwhile is not told).
        for (const w of [...(registry.byToken.get(tokenId) ?? [])]) {
          stopWatching(tokens, registry, tokenId, w)
          w.onRevoked()
        }
      },
      () => {}, // a database hiccup is not a revocation; the next check decides
    )
    if (watchers.size === 0) registry.byToken.delete(tokenId)
  }
}

function stopWatching(tokens: TokensService, registry: Registry, tokenId: string, watcher: Watcher): void {
  const set = registry.byToken.get(tokenId)
  if (!set?.delete(watcher)) return
  if (set.size === 0) registry.byToken.delete(tokenId)
  if (registry.byToken.size === 0 && registry.timer) {
    clearInterval(registry.timer)
    registry.timer = undefined
    registries.delete(tokens)
  }
}

/**
 * Calls `onRevoked` once when the token behind a long-lived connection is revoked, so revocation ends open streams
 * within seconds instead of at their natural end. Returns the function that stops watching. One timer per process
 * checks each watched token once per interval, so an idle stream adds no query of its own.
 */
export function watchCredential(tokens: TokensService, tokenId: string, onRevoked: () => void, intervalMs = CREDENTIAL_RECHECK_MS): () => void {
  let registry = registries.get(tokens)
  if (!registry) {
    registry = { byToken: new Map(), timer: undefined, intervalMs }
    registries.set(tokens, registry)
  }
  const reg = registry
  if (!reg.timer || intervalMs < reg.intervalMs) {
    if (reg.timer) clearInterval(reg.timer)
    reg.intervalMs = intervalMs
    reg.timer = setInterval(() => tick(tokens, reg), intervalMs)
    reg.timer.unref()
  }
  const watcher: Watcher = { onRevoked }
  let set = reg.byToken.get(tokenId)
  if (!set) reg.byToken.set(tokenId, (set = new Set()))
  set.add(watcher)
  return () => stopWatching(tokens, reg, tokenId, watcher)
}
