import { dropTemplateDatabase, prepareTemplateDatabase } from './database.js'
import { assertRedisReachable } from './redis.js'

/**
 * Vitest globalSetup: the suite fails (never skips) when Postgres or Redis is unreachable. Each vitest
 * invocation migrates its own template database; test files clone it (workers inherit the env var).
 */
export default async function setup(): Promise<() => Promise<void>> {
  await assertRedisReachable()
  const template = await prepareTemplateDatabase()
  process.env.OPENVESPER_TEST_TEMPLATE_DB = template
  return () => dropTemplateDatabase(template)
}
