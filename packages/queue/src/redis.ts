/**
 * The Redis adapters (server mode): BullMQ job queue, pub/sub event bus, shared counters. A separate entry point,
 * `@openvesper/queue/redis`, so the embedded mode never loads bullmq or ioredis.
 */
export * from './bullmq.js'
export * from './redis-counters.js'
export * from './redis-events.js'
