/** Contracts and the in-process adapters; the Redis ones are in `@openvesper/queue/redis`. */
export * from './types.js'
export * from './catalog.js'
export * from './inprocess.js'
export * from './events.js'
export * from './counters.js'
