export * from './schema/index.js'
export * from './client.js'
export { migrate, MIGRATIONS_FOLDER } from './migrate.js'
export { rawSql, type RawSql } from './raw.js'
