export * from './sessions.repo.js'
export * from './sessions.sql.js'
