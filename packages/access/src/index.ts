export * from './scopes.js'
export * from './tokens.service.js'
