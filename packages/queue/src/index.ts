export * from './types.js'
export * from './bullmq.js'
export * from './inprocess.js'
export * from './events.js'
