export * from './sessions.repo.js'
