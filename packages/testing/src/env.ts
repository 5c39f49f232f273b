/** Where the test suite finds the machine's services. Overridable, never skipped when unreachable. */
export const TEST_PG_ADMIN_URL = process.env.OPENVESPER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const TEST_REDIS_URL = process.env.OPENVESPER_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Set by the vitest globalSetup for its workers: each test invocation has its own template. */
export const templateDbName = (): string => {
  const name = process.env.OPENVESPER_TEST_TEMPLATE_DB
  if (!name) throw new Error('OPENVESPER_TEST_TEMPLATE_DB is unset: run tests through vitest (its globalSetup prepares the template)')
  return name
}

export function databaseUrl(name: string): string {
  const u = new URL(TEST_PG_ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}
