import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

/** STYLE.md section 3: which workspace package may depend on which. */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  config: ['shared'],
  db: ['shared'],
  queue: ['shared'],
  sessions: ['shared', 'db'],
  memory: ['shared', 'db', 'queue'],
  core: ['shared', 'db', 'queue', 'sessions', 'memory'],
  scheduler: ['shared', 'db', 'queue'],
  compat: ['shared', 'core'],
  testing: ['shared', 'config', 'db', 'queue'],
  client: [],
  gateway: ['shared', 'config', 'db', 'queue', 'sessions', 'memory', 'core', 'scheduler', 'compat'],
}
/** Test-only workspace dependencies (devDependencies). */
const DEV_ALLOWED = ['testing', 'client']

const root = new URL('..', import.meta.url).pathname
const dirs = [...readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d)), join(root, 'apps', 'gateway')]

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : sources(p)
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [p] : []
  })
}

describe('architecture', () => {
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const name = pkg.name.replace('@openvesper/', '')
    it(`${name} depends only on the packages its layer allows`, () => {
      expect(ALLOWED[name], `unknown package ${name}: add it to the layering table`).toBeDefined()
      const deps = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@openvesper/')).map((d) => d.replace('@openvesper/', ''))
      const devDeps = Object.keys(pkg.devDependencies ?? {}).filter((d) => d.startsWith('@openvesper/')).map((d) => d.replace('@openvesper/', ''))
      for (const d of deps) expect(ALLOWED[name], `${name} may not depend on ${d}`).toContain(d)
      for (const d of devDeps) expect([...ALLOWED[name]!, ...DEV_ALLOWED], `${name} may not dev-depend on ${d}`).toContain(d)
    })

    it(`${name} source imports only allowed drivers, frameworks and environment`, () => {
      if (!statSync(join(dir, 'src'), { throwIfNoEntry: false })) return
      for (const file of sources(join(dir, 'src'))) {
        const text = readFileSync(file, 'utf8')
        const rel = file.slice(root.length)
        if (name !== 'gateway') expect(text, `${rel}: only apps/gateway imports fastify`).not.toMatch(/from ['"](fastify|@fastify\/)/)
        if (name !== 'queue' && name !== 'testing') expect(text, `${rel}: only packages/queue imports bullmq/ioredis`).not.toMatch(/from ['"](bullmq|ioredis)['"]/)
        if (name !== 'db' && name !== 'testing') expect(text, `${rel}: only packages/db opens database connections`).not.toMatch(/from ['"](postgres|@electric-sql\/pglite)['"]/)
        if (!(name === 'gateway' && rel.endsWith('main.ts')) && name !== 'testing')
          expect(text, `${rel}: only main.ts reads process.env`).not.toMatch(/process\.env/)
        expect(text, `${rel}: no deep imports into workspace packages`).not.toMatch(/from ['"]@openvesper\/[a-z]+\/src/)
        // packages/db/src/raw.ts is the one parameterised raw-statement runner (values always travel as $n parameters).
        if (name !== 'testing' && !rel.endsWith('packages/db/src/raw.ts'))
          expect(text, `${rel}: raw SQL only through drizzle's sql template or rawSql (parameterised)`).not.toMatch(/\.unsafe\(|sql\.raw\(/)
      }
    })
  }
})
