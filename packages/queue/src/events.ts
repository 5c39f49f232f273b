/**
 * Event buses: Redis pub/sub (server mode, any gateway can stream or abort any run) and an in-process emitter
 * (embedded mode). Both are fire-and-forget: a message published while nobody (or no connection) listens is lost,
 * which is why run events are read back from Postgres and only tailed here.
 */
import { EventEmitter } from 'node:events'
import { AppError, silentLogger, type Logger } from '@openvesper/shared'
import { Redis, type RedisOptions } from 'ioredis'
import { describeRedisUrl, errorMessage, normalizePrefix, reconnectDelay, settlesWithin, watchConnection } from './internal.js'
import type { EventBus } from './types.js'

/** Both buses expose how many channels have local subscribers, for leak tests and metrics. */
export interface CountingEventBus extends EventBus {
  /** Channels with at least one local subscriber (for Redis: channels this process is SUBSCRIBEd to). */
  channelCount(): number
}

export interface RedisEventBus extends CountingEventBus {
  readonly kind: 'redis'
}

export interface InProcessEventBus extends CountingEventBus {
  readonly kind: 'inprocess'
}

export interface RedisEventBusOptions {
  redisUrl: string
  /** Channels are named `<prefix>:events:<channel>` in Redis. */
  prefix: string
  log?: Logger
}

/** Fail fast like the job producer: a Redis outage is an error within ~2 s, never a hang. */
const BUS_REDIS_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: reconnectDelay,
  autoResubscribe: true,
}

function assertChannel(channel: string): void {
  if (typeof channel !== 'string' || channel.length === 0) throw new Error('event bus: channel must be a non-empty string')
}

interface Subscription {
  onMessage: (message: string) => void
}

interface Channel {
  subscriptions: Set<Subscription>
  /** The Redis SUBSCRIBE shared by every local subscriber of this channel. */
  ready: Promise<void>
}

export function createRedisEventBus(options: RedisEventBusOptions): RedisEventBus {
  const { redisUrl } = options
  const base = `${normalizePrefix(options.prefix)}:events:`
  const log = options.log ?? silentLogger
  const where = describeRedisUrl(redisUrl)
  let state: 'new' | 'starting' | 'started' | 'closed' = 'new'
  let pub: Redis | undefined
  let sub: Redis | undefined
  const channels = new Map<string, Channel>()

  function connections(operation: string): { pub: Redis; sub: Redis } {
    if (state === 'closed') throw new Error(`event bus: ${operation} after close()`)
    if (state !== 'started' || !pub || !sub) throw new Error(`event bus: ${operation} before start(); call bus.start() first`)
    return { pub, sub }
  }

  const unavailable = (operation: string, err: unknown) =>
    new AppError('unavailable', `event bus unavailable (${operation}, Redis at ${where}): ${errorMessage(err)}`, { cause: err })

  function onMessage(redisChannel: string, message: string): void {
    const channel = channels.get(redisChannel)
    if (!channel) {
      // Nobody here listens any more (e.g. an UNSUBSCRIBE failed during an outage and ioredis re-subscribed on
      // reconnect): drop the server-side subscription. Commands are ordered, so a later SUBSCRIBE still wins.
      if (redisChannel.startsWith(base)) sub?.unsubscribe(redisChannel).catch(() => {})
      return
    }
    for (const subscription of [...channel.subscriptions]) {
      try {
        subscription.onMessage(message)
      } catch (err) {
        log.error({ err, channel: redisChannel.slice(base.length) }, 'event bus: subscriber threw')
      }
    }
  }

  return {
    kind: 'redis',

    async start() {
      if (state !== 'new') throw new Error(`event bus: start() called twice (state: ${state})`)
      state = 'starting'
      // Publications issued in the same tick (events of concurrent runs) leave in one write.
      const p = new Redis(redisUrl, { ...BUS_REDIS_OPTIONS, connectionName: `${base}pub`, enableAutoPipelining: true })
      const s = new Redis(redisUrl, { ...BUS_REDIS_OPTIONS, connectionName: `${base}sub` })
      watchConnection(p, log, 'event bus publisher')
      watchConnection(s, log, 'event bus subscriber')
      s.on('message', onMessage)
      try {
        await Promise.all([p.connect(), s.connect()])
      } catch (err) {
        p.disconnect()
        s.disconnect()
        state = 'new'
        throw new Error(`event bus: cannot reach Redis at ${where}: ${errorMessage(err)}`, { cause: err })
      }
      pub = p
      sub = s
      state = 'started'
      log.info({ redis: where }, 'event bus: Redis pub/sub')
    },

    async publish(channel, message) {
      assertChannel(channel)
      const conn = connections('publish')
      try {
        await conn.pub.publish(base + channel, message)
      } catch (err) {
        throw unavailable('publish', err)
      }
    },

    async subscribe(channel, handler) {
      assertChannel(channel)
      const conn = connections('subscribe')
      const key = base + channel
      let entry = channels.get(key)
      if (!entry) {
        const created: Channel = { subscriptions: new Set(), ready: conn.sub.subscribe(key).then(() => undefined) }
        created.ready.catch(() => {
          if (channels.get(key) === created) channels.delete(key)
        })
        channels.set(key, created)
        entry = created
      }
      const channelEntry = entry
      const subscription: Subscription = { onMessage: handler }
      channelEntry.subscriptions.add(subscription)
      try {
        await channelEntry.ready
      } catch (err) {
        channelEntry.subscriptions.delete(subscription)
        throw unavailable('subscribe', err)
      }
      let unsubscribed = false
      return async () => {
        if (unsubscribed) return
        unsubscribed = true
        channelEntry.subscriptions.delete(subscription)
        if (channelEntry.subscriptions.size > 0 || channels.get(key) !== channelEntry) return
        channels.delete(key)
        if (state !== 'started') return
        try {
          await conn.sub.unsubscribe(key)
        } catch (err) {
          // Not rethrown: callers unsubscribe in cleanup paths. A stray server-side subscription is dropped when its
          // next message arrives (see onMessage).
          log.warn({ err: errorMessage(err), channel }, 'event bus: UNSUBSCRIBE failed')
        }
      }
    },

    channelCount: () => channels.size,

    async close() {
      if (state === 'closed') return
      state = 'closed'
      channels.clear()
      await Promise.all(
        [pub, sub].map(async (conn) => {
          if (conn && !(await settlesWithin(conn.quit(), 1_000))) conn.disconnect()
        }),
      )
      pub = undefined
      sub = undefined
    },
  }
}

/** Embedded-mode bus. Messages are delivered on a later microtask, in publish order: publishers never run subscriber code. */
export function createInProcessEventBus(options: { log?: Logger } = {}): InProcessEventBus {
  const log = options.log ?? silentLogger
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  let state: 'new' | 'started' | 'closed' = 'new'

  function assertStarted(operation: string): void {
    if (state === 'closed') throw new Error(`event bus: ${operation} after close()`)
    if (state !== 'started') throw new Error(`event bus: ${operation} before start(); call bus.start() first`)
  }

  return {
    kind: 'inprocess',

    async start() {
      if (state !== 'new') throw new Error(`event bus: start() called twice (state: ${state})`)
      state = 'started'
      log.info('event bus: in-process (embedded mode)')
    },

    async publish(channel, message) {
      assertChannel(channel)
      assertStarted('publish')
      if (emitter.listenerCount(channel) === 0) return
      queueMicrotask(() => emitter.emit(channel, message))
    },

    async subscribe(channel, handler) {
      assertChannel(channel)
      assertStarted('subscribe')
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
      state = 'closed'
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

    async subscribe(channel, handler) {
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
