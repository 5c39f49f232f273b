export * from './messages.schemas.js'
export * from './messages.js'
export * from './errors.js'
export * from './models.js'
