export * from './auth.js'
export * from './sessions.js'
export * from './runs.js'
export * from './memory.js'
