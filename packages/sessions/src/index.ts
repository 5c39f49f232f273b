export * from './session-key.js'
export * from './sessions.repo.js'
export * from './sessions.service.js'
export * from './sessions.sql.js'
