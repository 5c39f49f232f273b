import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/** STYLE.md section 3: which workspace package may depend on which. */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  config: ['shared'],
  db: ['shared'],
  queue: ['shared'],
  sessions: ['shared', 'db'],
  access: ['shared', 'db'],
  audit: ['shared', 'db'],
  memory: ['shared', 'db', 'queue'],
  core: ['shared', 'db', 'queue', 'sessions', 'memory'],
  scheduler: ['shared', 'db', 'queue'],
  compat: ['shared', 'core'],
  testing: ['shared', 'config', 'db', 'queue'],
  client: [],
  gateway: ['shared', 'config', 'db', 'queue', 'sessions', 'access', 'memory', 'core', 'scheduler', 'compat', 'audit'],
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
      const deps = Object.keys(pkg.dependencies ?? {})
        .filter((d) => d.startsWith('@openvesper/'))
        .map((d) => d.replace('@openvesper/', ''))
      const devDeps = Object.keys(pkg.devDependencies ?? {})
        .filter((d) => d.startsWith('@openvesper/'))
        .map((d) => d.replace('@openvesper/', ''))
      for (const d of deps) expect(ALLOWED[name], `${name} may not depend on ${d}`).toContain(d)
      for (const d of devDeps) expect([...ALLOWED[name]!, ...DEV_ALLOWED], `${name} may not dev-depend on ${d}`).toContain(d)
    })

    it(`${name} source imports only allowed drivers, frameworks and environment`, () => {
      if (!statSync(join(dir, 'src'), { throwIfNoEntry: false })) return
      for (const file of sources(join(dir, 'src'))) {
        const text = readFileSync(file, 'utf8')
        const rel = file.slice(root.length)
        if (name !== 'gateway') expect(text, `${rel}: only apps/gateway imports fastify`).not.toMatch(/from ['"](fastify|@fastify\/)/)
        if (name !== 'queue' && name !== 'testing')
          expect(text, `${rel}: only packages/queue imports bullmq/ioredis`).not.toMatch(/from ['"](bullmq|ioredis)['"]/)
        if (name !== 'db' && name !== 'testing')
          expect(text, `${rel}: only packages/db opens database connections`).not.toMatch(/from ['"](postgres|@electric-sql\/pglite)['"]/)
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

// ---- Table writers: every table names the one package whose src writes it (STYLE.md: one owner per table).

interface TableDecl {
  variable: string
  name: string
  writers: string[]
  file: string
}

const schemaDir = join(root, 'packages', 'db', 'src', 'schema')
const packageName = (dir: string): string => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name.replace('@openvesper/', '')
const packagesByName = new Map(dirs.map((dir) => [packageName(dir), dir]))

function tableDecls(): TableDecl[] {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => {
      const text = readFileSync(join(schemaDir, f), 'utf8')
      return [...text.matchAll(/export const (\w+) = pgTable\(\s*'(\w+)'/g)].map((m) => {
        // The doc comment directly above the declaration (nothing but whitespace between them).
        const before = text.slice(0, m.index)
        const doc = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*$/.exec(before)?.[1] ?? ''
        const writers = [...doc.matchAll(/@writer\s+(\S+)/g)].map((w) => w[1]!)
        return { variable: m[1]!, name: m[2]!, writers, file: `packages/db/src/schema/${f}` }
      })
    })
}

/** Source text without comments, so prose (`update sessions when…`) is not taken for a statement. */
const withoutComments = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function writesTo(text: string, table: TableDecl): string[] {
  const code = withoutComments(text)
  const patterns = [
    new RegExp(`\\.(insert|update|delete)\\(\\s*${escapeRegExp(table.variable)}\\s*\\)`),
    new RegExp(`\\b(insert\\s+into|update|delete\\s+from)\\s+"?${escapeRegExp(table.name)}"?(?![\\w])`, 'i'),
  ]
  return patterns.flatMap((re) => re.exec(code)?.[0] ?? [])
}

describe('table writers', () => {
  const tables = tableDecls()

  it('finds the tables', () => {
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['api_tokens', 'runs', 'run_events', 'tool_calls', 'sessions', 'session_messages']))
  })

  for (const table of tables) {
    it(`${table.name} declares exactly one writing package, and no other package writes it`, () => {
      expect(
        table.writers,
        `${table.file}: ${table.variable} needs exactly one "@writer packages/<name>" line in the comment directly above its pgTable`,
      ).toHaveLength(1)
      const writer = table.writers[0]!.replace(/^packages\//, '')
      expect(table.writers[0], `${table.file}: @writer must name packages/<name>`).toMatch(/^packages\/[a-z-]+$/)
      expect(packagesByName.has(writer) && writer !== 'gateway', `${table.file}: @writer ${table.writers[0]} is not a workspace package`).toBe(true)
      for (const [name, dir] of packagesByName) {
        // packages/testing's factories put rows straight into any table, for tests only (it is a dev dependency).
        if (name === writer || name === 'testing') continue
        if (!statSync(join(dir, 'src'), { throwIfNoEntry: false })) continue
        for (const file of sources(join(dir, 'src'))) {
          const found = writesTo(readFileSync(file, 'utf8'), table)
          expect(found, `${file.slice(root.length)} writes ${table.name}, whose writer is ${table.writers[0]}`).toEqual([])
        }
      }
    })
  }
})

// ---- Import cycles: none between the files of a package, none between packages.

const RELATIVE_IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/g

function resolveImport(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec)
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]
  return candidates.find((c) => statSync(c, { throwIfNoEntry: false })?.isFile())
}

/** Every cycle found by a depth-first walk, each as its nodes starting from the smallest one (so it is stable). */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles = new Map<string, string[]>()
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (node: string) => {
    state.set(node, 'open')
    stack.push(node)
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next))
        const start = cycle.indexOf([...cycle].sort()[0]!)
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)]
        cycles.set(rotated.join(' -> '), rotated)
      } else if (!state.has(next)) visit(next)
    }
    stack.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node)
  return [...cycles.values()]
}

describe('import cycles', () => {
  for (const [name, dir] of packagesByName) {
    it(`${name}: no import cycle between its source files`, () => {
      if (!statSync(join(dir, 'src'), { throwIfNoEntry: false })) return
      const graph = new Map<string, string[]>()
      for (const file of sources(join(dir, 'src'))) {
        const text = withoutComments(readFileSync(file, 'utf8'))
        const targets = [...text.matchAll(RELATIVE_IMPORT)].flatMap((m) => resolveImport(file, (m[1] ?? m[2])!) ?? [])
        graph.set(
          file.slice(root.length),
          targets.map((t) => t.slice(root.length)),
        )
      }
      const cycles = findCycles(graph).map((c) => c.join(' -> '))
      expect(cycles, `import cycles in ${name}`).toEqual([])
    })
  }

  it('no dependency cycle between workspace packages', () => {
    const graph = new Map<string, string[]>()
    for (const [name, dir] of packagesByName) {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
        .filter((d) => d.startsWith('@openvesper/'))
        .map((d) => d.replace('@openvesper/', ''))
      graph.set(name, deps)
    }
    expect(findCycles(graph).map((c) => c.join(' -> '))).toEqual([])
  })
})
