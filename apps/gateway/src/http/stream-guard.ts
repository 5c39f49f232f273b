/** Why a streaming client was disconnected. */
export type SlowConsumerReason = 'buffer_full' | 'stalled'

export interface StreamLimits {
  /** Unsent bytes one client may leave waiting in this process. */
  maxBufferedBytes: number
  /** How long a client with writes waiting may take none of them. */
  stallMs: number
}

export interface StreamGuard {
  /**
   * Writes through `write` (which must call `done` once the bytes left this process) unless the client is too far
   * behind: then it is dropped. Checked before writing, so at most one frame lies past the byte limit. Returns false
   * when the client is dropped, else what `write` returned (false: the caller should wait for the client to drain).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: `write` is an http write (boolean) or a ws send (void)
  send(write: (done: (err?: Error | null) => void) => boolean | void): boolean
  /** True once the client was dropped. */
  readonly dropped: boolean
  /** Stops the stall timer (the connection ended). */
  close(): void
}

/**
 * Guards one streaming connection (SSE, WebSocket) against a client that stops reading. Senders wait for a slow client
 * (backpressure; the run and the other clients do not), so what it has not taken stays small; a client that takes none
 * of its waiting bytes for `stallMs`, or has more than `maxBufferedBytes` waiting (one huge frame after another), is
 * dropped. It resumes from the stored log after reconnecting.
 */
export function createStreamGuard(
  limits: StreamLimits,
  io: { buffered: () => number; drop: (reason: SlowConsumerReason, bufferedBytes: number) => void },
): StreamGuard {
  let waiting = 0
  let progressAt = 0
  let timer: NodeJS.Timeout | undefined
  let dropped = false

  const drop = (reason: SlowConsumerReason) => {
    if (dropped) return
    dropped = true
    if (timer) clearTimeout(timer)
    io.drop(reason, io.buffered())
  }
  const check = () => {
    timer = undefined
    if (dropped || waiting === 0) return
    const idle = Date.now() - progressAt
    if (idle >= limits.stallMs) return drop('stalled')
    timer = setTimeout(check, limits.stallMs - idle)
    timer.unref()
  }
  const done = () => {
    waiting--
    progressAt = Date.now()
  }

  return {
    send(write) {
      if (dropped) return false
      if (io.buffered() > limits.maxBufferedBytes) {
        drop('buffer_full')
        return false
      }
      if (waiting++ === 0) progressAt = Date.now()
      if (!timer) {
        timer = setTimeout(check, limits.stallMs)
        timer.unref()
      }
      return write(done) !== false
    },
    get dropped() {
      return dropped
    },
    close() {
      dropped = true
      if (timer) clearTimeout(timer)
    },
  }
}
