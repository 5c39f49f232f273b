// Writes dist/pgdata-template: an embedded (PGlite) data folder, initialised and migrated, that main.js copies into
// an empty OPENVESPER_DATA_DIR on the first start instead of running PGlite's initdb and every migration (~5 s).
// Rebuilt only when the PGlite version or the migrations change (dist/pgdata-template.json records both).
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createDb, migrate, MIGRATIONS_FOLDER } from '@openvesper/db'

const DIST = fileURLToPath(new URL('../dist', import.meta.url))
const TEMPLATE = join(DIST, 'pgdata-template')
const STAMP = `${TEMPLATE}.json`

// The version of the PGlite the gateway loads (its package.json is not exported: found next to its entry).
const pgliteEntry = createRequire(join(DIST, 'main.js')).resolve('@electric-sql/pglite')
const pglite = JSON.parse(readFileSync(join(dirname(pgliteEntry), '..', 'package.json'), 'utf8')).version
const hash = createHash('sha256')
for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true, withFileTypes: true })
  .filter((f) => f.isFile())
  .map((f) => join(f.parentPath, f.name))
  .sort())
  hash.update(file.slice(MIGRATIONS_FOLDER.length)).update(readFileSync(file))
const stamp = JSON.stringify({ pglite, migrations: hash.digest('hex') })

if (existsSync(join(TEMPLATE, 'PG_VERSION')) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === stamp) {
  process.stdout.write('dist/pgdata-template is up to date\n')
} else {
  const tmp = `${TEMPLATE}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  const handle = createDb({ kind: 'pglite', dataDir: tmp })
  try {
    await migrate(handle)
  } finally {
    await handle.close()
  }
  rmSync(TEMPLATE, { recursive: true, force: true })
  renameSync(tmp, TEMPLATE)
  writeFileSync(STAMP, stamp)
  process.stdout.write(`wrote dist/pgdata-template (PGlite ${pglite})\n`)
}
