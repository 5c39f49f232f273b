/** The Redis pub/sub event bus (server mode). Imported through `@openvesper/queue/redis` only. */
import { silentLogger, type Logger } from '@openvesper/shared'
import { Redis, type RedisOptions } from 'ioredis'
import { assertChannel, type CountingEventBus } from './events.js'
import {
  createLifecycle,
  describeRedisUrl,
  errorMessage,
  normalizePrefix,
  reachRedis,
  reconnectDelay,
  redisUnavailable,
  settlesWithin,
  watchConnection,
} from './internal.js'

export interface RedisEventBus extends CountingEventBus {
  readonly kind: 'redis'
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
  const lifecycle = createLifecycle('event bus', 'bus')
  let pub: Redis | undefined
  let sub: Redis | undefined
  const channels = new Map<string, Channel>()

  function connections(operation: string): { pub: Redis; sub: Redis } {
    lifecycle.assertStarted(operation)
    return { pub: pub!, sub: sub! }
  }

  const unavailable = redisUnavailable('event bus', where)

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
      await lifecycle.start(async () => {
        // Publications issued in the same tick (events of concurrent runs) leave in one write.
        const p = new Redis(redisUrl, { ...BUS_REDIS_OPTIONS, connectionName: `${base}pub`, enableAutoPipelining: true })
        const s = new Redis(redisUrl, { ...BUS_REDIS_OPTIONS, connectionName: `${base}sub` })
        watchConnection(p, log, 'event bus publisher')
        watchConnection(s, log, 'event bus subscriber')
        s.on('message', onMessage)
        await reachRedis(
          'event bus',
          where,
          () => Promise.all([p.connect(), s.connect()]),
          () => {
            p.disconnect()
            s.disconnect()
          },
        )
        pub = p
        sub = s
      })
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
        if (!lifecycle.started) return
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
      if (!lifecycle.close()) return
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
