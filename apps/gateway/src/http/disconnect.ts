import type { FastifyReply } from 'fastify'

/** Sync runs and waits may stay silent for long: the socket idle timeout during their handler (1 h + margin). */
export const LONG_HANDLER_IDLE_MS = 3_660_000

/** Aborted when the client goes away before the response was sent (a sync run stops with its caller). */
export function onDisconnect(reply: FastifyReply): AbortSignal {
  const ctrl = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ctrl.abort()
  })
  return ctrl.signal
}
