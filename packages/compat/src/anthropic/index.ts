export * from './messages.schemas.js'
export * from './messages.js'
