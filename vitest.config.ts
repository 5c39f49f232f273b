import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** Tests read workspace packages from source, like the `@openvesper/source` export condition does for tsc. */
const packagesDir = fileURLToPath(new URL('./packages', import.meta.url))
const alias = Object.fromEntries([
  // Subpath entry points first: an alias also matches longer specifiers (`@openvesper/queue` would take `/redis`).
  ['@openvesper/queue/redis', `${packagesDir}/queue/src/redis.ts`],
  ...readdirSync(packagesDir).map((name) => [`@openvesper/${name}`, `${packagesDir}/${name}/src/index.ts`]),
])

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['packages/testing/src/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
})
