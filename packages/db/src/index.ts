export * from './schema/index.js'
export * from './client.js'
export { migrate, MIGRATIONS_FOLDER } from './migrate.js'
