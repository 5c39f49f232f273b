export * from './chat.schemas.js'
export * from './chat.js'
