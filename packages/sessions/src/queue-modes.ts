/**
 * What a message does when its session is busy (an active run in it), and which setting decides: the request's,
 * else the session's (`POST /sessions/:key/queue/mode`), else the agent's (config file), else the default. Pure.
 *
 * - `reject`: 409 `session_busy` with the active run's id.
 * - `followup`: a new run waits behind the active one and starts when it ends, in arrival order.
 * - `collect`: messages that arrive while busy merge into one waiting run, started after a debounce window.
 * - `steer`: the message goes into the active run at its next model step (when it is running; else `followup`).
 * - `interrupt`: the active run is cancelled and the new one starts.
 */
export const QUEUE_MODES = ['reject', 'followup', 'collect', 'steer', 'interrupt'] as const
export type QueueMode = (typeof QUEUE_MODES)[number]
export type QueueModeSource = 'request' | 'session' | 'agent' | 'default'

export const isQueueMode = (value: unknown): value is QueueMode => typeof value === 'string' && (QUEUE_MODES as readonly string[]).includes(value)

export function resolveQueueMode(levels: { request?: QueueMode; session?: string | null; agent?: QueueMode; fallback: QueueMode }): {
  mode: QueueMode
  source: QueueModeSource
} {
  if (levels.request) return { mode: levels.request, source: 'request' }
  if (isQueueMode(levels.session)) return { mode: levels.session, source: 'session' }
  if (levels.agent) return { mode: levels.agent, source: 'agent' }
  return { mode: levels.fallback, source: 'default' }
}

/** The message a merged (`collect`) run sends: the messages in arrival order, separated by a blank line. */
export const COLLECT_SEPARATOR = '\n\n'
