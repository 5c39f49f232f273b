import { normalizeOrigin } from '@openvesper/config'
import { forbidden } from '@openvesper/shared'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** The origin this request was addressed to (scheme of the connection or trusted proxy, Host header), normalised. */
function ownOrigin(request: FastifyRequest): string | undefined {
  const host = request.host
  return typeof host === 'string' && host.length > 0 ? normalizeOrigin(`${request.protocol}://${host}`) : undefined
}

/**
 * Cross-site WebSocket and SSE hijacking guard (A09), for routes whose auth policy has `streaming: true` (the ones
 * browsers open with WebSocket/EventSource, where the token may travel as `?token=`). A request carrying an Origin
 * header must come from the gateway's own origin or one of OPENVESPER_ALLOWED_ORIGINS, compared exactly after
 * normalisation (lowercase scheme and host, default port dropped); anything else — `null`, other ports or schemes,
 * look-alike hosts, userinfo, paths — gets 403 before authentication and before any upgrade or stream starts.
 * Requests without Origin (non-browser clients) are unaffected and still need a token.
 *
 * Register it after the rate limit and before the auth hook.
 */
export function registerOriginCheck(app: FastifyInstance, { allowedOrigins }: { allowedOrigins: readonly string[] }): void {
  const allowed = new Set(allowedOrigins.map((o) => normalizeOrigin(o) ?? o))
  app.addHook('onRequest', async (request) => {
    const policy = request.is404 ? undefined : request.routeOptions.config.auth
    if (policy === undefined || !('scopes' in policy) || policy.streaming !== true) return
    const raw = request.raw.rawHeaders
    const values: string[] = []
    for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'origin') values.push(raw[i + 1] ?? '')
    if (values.length === 0) return
    if (values.length > 1) throw forbidden('send at most one Origin header')
    const origin = normalizeOrigin(values[0]!)
    if (origin !== undefined && (allowed.has(origin) || origin === ownOrigin(request))) return
    throw forbidden('streams may not be opened from this origin; the operator can add it to OPENVESPER_ALLOWED_ORIGINS')
  })
}
