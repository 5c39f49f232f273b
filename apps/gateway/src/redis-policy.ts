import type { Logger } from '@openvesper/shared'

/**
 * Reads Redis's `maxmemory-policy` at start (server mode) and warns loudly when it is not `noeviction`: under memory
 * pressure any other policy may evict queue keys (BullMQ jobs, leases), and runs would be lost without an error.
 * Returns the policy (undefined when it could not be read, e.g. CONFIG disabled on a managed Redis). Never throws.
 */
export async function checkRedisEviction(redisUrl: string, log: Pick<Logger, 'warn' | 'info'>): Promise<string | undefined> {
  const { Redis } = await import('ioredis')
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, enableOfflineQueue: false })
  try {
    await client.connect()
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[]
    const policy = reply[1]
    if (policy === undefined) throw new Error('no maxmemory-policy in the CONFIG GET reply')
    if (policy !== 'noeviction')
      log.warn(
        { maxmemoryPolicy: policy },
        `REDIS EVICTION POLICY IS ${policy}: under memory pressure Redis may evict queue keys and lose runs; set maxmemory-policy noeviction`,
      )
    return policy
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the Redis maxmemory-policy; make sure it is noeviction')
    return undefined
  } finally {
    client.disconnect()
  }
}
