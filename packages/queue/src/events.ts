/**
 * Event buses: Redis pub/sub (server mode, any gateway can stream or abort any run; redis-events.ts) and an in-process
 * emitter (embedded mode). Both are fire-and-forget: a message published while nobody (or no connection) listens is
 * lost, which is why run events are read back from Postgres and only tailed here.
 */
import { EventEmitter } from 'node:events'
import { silentLogger, type Logger } from '@openvesper/shared'
import { createLifecycle } from './internal.js'
import type { EventBus } from './types.js'

/** Both buses expose how many channels have local subscribers, for leak tests and metrics. */
export interface CountingEventBus extends EventBus {
  /** Channels with at least one local subscriber (for Redis: channels this process is SUBSCRIBEd to). */
  channelCount(): number
}

export interface InProcessEventBus extends CountingEventBus {
  readonly kind: 'inprocess'
}

export function assertChannel(channel: string): void {
  if (typeof channel !== 'string' || channel.length === 0) throw new Error('event bus: channel must be a non-empty string')
}

/** Embedded-mode bus. Messages are delivered on a later microtask, in publish order: publishers never run subscriber code. */
export function createInProcessEventBus(options: { log?: Logger } = {}): InProcessEventBus {
  const log = options.log ?? silentLogger
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  const lifecycle = createLifecycle('event bus', 'bus')

  return {
    kind: 'inprocess',

    async start() {
      await lifecycle.start()
      log.info('event bus: in-process (embedded mode)')
    },

    async publish(channel, message) {
      assertChannel(channel)
      lifecycle.assertStarted('publish')
      if (emitter.listenerCount(channel) === 0) return
      queueMicrotask(() => emitter.emit(channel, message))
    },

    async subscribe(channel, handler) {
      assertChannel(channel)
      lifecycle.assertStarted('subscribe')
      const listener = (message: string) => {
        try {
          handler(message)
        } catch (err) {
          log.error({ err, channel }, 'event bus: subscriber threw')
        }
      }
      emitter.on(channel, listener)
      let unsubscribed = false
      return async () => {
        if (unsubscribed) return
        unsubscribed = true
        emitter.off(channel, listener)
      }
    },

    channelCount: () => emitter.eventNames().length,

    async close() {
      lifecycle.close()
      emitter.removeAllListeners()
    },
  }
}

/**
 * Server-mode bus in front of Redis: messages published here reach this process's subscribers at once (on a
 * microtask, in publish order) and every other process through Redis; this process ignores its own messages
 * when Redis echoes them back. A run executing in the gateway that streams it never waits on Redis.
 */
export function createLocalFirstEventBus(remote: EventBus, options: { instanceId: string; log?: Logger }): CountingEventBus {
  const log = options.log ?? silentLogger
  const tag = `${ORIGIN_MARK}${options.instanceId}\n`
  const local = new Map<string, Set<(message: string) => void>>()

  const deliverLocal = (channel: string, message: string) => {
    const handlers = local.get(channel)
    if (!handlers || handlers.size === 0) return
    queueMicrotask(() => {
      for (const handler of [...handlers]) {
        try {
          handler(message)
        } catch (err) {
          log.error({ err, channel }, 'event bus: subscriber threw')
        }
      }
    })
  }

  return {
    kind: remote.kind,
    start: () => remote.start(),
    close: () => remote.close(),
    channelCount: () => local.size,

    async publish(channel, message) {
      assertChannel(channel)
      deliverLocal(channel, message)
      await remote.publish(channel, tag + message)
    },

    async subscribe(channel, handler, subscribeOptions) {
      assertChannel(channel)
      let handlers = local.get(channel)
      if (!handlers) local.set(channel, (handlers = new Set()))
      const own = handlers
      // A wrapper per subscription, so the same handler subscribed twice is two subscriptions.
      const entry = (message: string) => handler(message)
      own.add(entry)
      const drop = () => {
        own.delete(entry)
        if (own.size === 0 && local.get(channel) === own) local.delete(channel)
      }
      if (subscribeOptions?.local) return async () => drop()
      let unsubscribeRemote: () => Promise<void>
      try {
        unsubscribeRemote = await remote.subscribe(channel, (raw) => {
          if (!raw.startsWith(ORIGIN_MARK)) return handler(raw)
          const end = raw.indexOf('\n')
          if (raw.slice(0, end + 1) === tag) return // published here: already delivered locally
          handler(raw.slice(end + 1))
        })
      } catch (err) {
        drop()
        throw err
      }
      return async () => {
        drop()
        await unsubscribeRemote()
      }
    },
  }
}
const ORIGIN_MARK = '\u0001o:'
