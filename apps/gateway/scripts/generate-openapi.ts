/**
 * Writes openapi/openapi.json (repository root) from the route schemas.
 * `--check`: writes nothing and exits 1 when the committed file differs from a fresh render.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderOpenApi } from '../src/openapi.js'

const target = fileURLToPath(new URL('../../../openapi/openapi.json', import.meta.url))
const shown = relative(process.cwd(), target) || target
const check = process.argv.includes('--check')

const text = `${JSON.stringify(await renderOpenApi(), null, 2)}\n`

if (check) {
  const current = await readFile(target, 'utf8').catch(() => undefined)
  if (current !== text) {
    process.stderr.write(
      current === undefined
        ? `${shown} is missing. Run \`pnpm openapi:generate\` and commit the result.\n`
        : `${shown} is out of date with the route schemas. Run \`pnpm openapi:generate\` and commit the result.\n`,
    )
    process.exit(1)
  }
  process.stdout.write(`${shown} is up to date\n`)
} else {
  await mkdir(dirname(target), { recursive: true })
  await writeFile(target, text)
  process.stdout.write(`wrote ${shown}\n`)
}
