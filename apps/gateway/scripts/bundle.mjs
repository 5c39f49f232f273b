// Bundles the tsc output dist/main.js (and everything it imports) into dist/main.js: one file to read and
// compile instead of ~1,000 modules resolved one by one, which is most of the process start time.
// @electric-sql/pglite stays external: it loads its .wasm and .data files relative to its own module.
import { readFile } from 'node:fs/promises'
import { dirname, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST = `${ROOT}dist`
const ENTRY = `${DIST}/main.js`

/**
 * Bundled modules that locate files next to themselves (migrations, static assets, package.json) keep doing so:
 * `import.meta.url`, `__dirname` and `__filename` become variables holding the module's original location,
 * computed relative to the bundle, so the result does not depend on where the repository is checked out.
 */
const ownLocation = {
  name: 'own-location',
  setup(b) {
    let seq = 0
    b.onLoad({ filter: /\.[cm]?js$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8')
      if (!/import\.meta\.url|\b__dirname\b|\b__filename\b/.test(source)) return undefined
      const rel = JSON.stringify(relative(DIST, path).split(sep).join('/'))
      const n = seq++
      const decls = []
      let contents = source
      if (contents.includes('import.meta.url')) {
        contents = contents.replaceAll('import.meta.url', `__ovUrl${n}`)
        decls.push(`var __ovUrl${n} = __ovModuleUrl(${rel});`)
      }
      for (const [name, helper] of [
        ['__dirname', '__ovModuleDir'],
        ['__filename', '__ovModulePath'],
      ]) {
        // A module that declares its own (usually from import.meta.url) keeps its declaration.
        if (new RegExp(`\\b(var|let|const|function)\\s+${name}\\b`).test(contents)) continue
        if (!new RegExp(`\\b${name}\\b`).test(contents)) continue
        contents = contents.replace(new RegExp(`(?<![.\\w$])${name}\\b`, 'g'), `${name}${n}`)
        decls.push(`var ${name}${n} = ${helper}(${rel});`)
      }
      // After a leading "use strict" directive, which must stay first to keep its meaning; same line (line numbers kept).
      const prologue = /^(?:#![^\n]*\n)?(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:(['"])use strict\1)?/.exec(contents)[0]
      contents = `${prologue};${decls.join('')}${contents.slice(prologue.length)}`
      return { contents, loader: 'js', resolveDir: dirname(path) }
    })
  },
}

if ((await readFile(ENTRY, 'utf8')).includes('__ovModuleUrl')) throw new Error(`${ENTRY} is already a bundle: run tsc -p tsconfig.build.json first`)

const banner = [
  "import { createRequire as __ovCreateRequire } from 'node:module';",
  "import { dirname as __ovDirname } from 'node:path';",
  "import { fileURLToPath as __ovFileURLToPath } from 'node:url';",
  'const require = __ovCreateRequire(import.meta.url);',
  'const __ovModuleUrl = (rel) => new URL(rel, import.meta.url).href;',
  'const __ovModulePath = (rel) => __ovFileURLToPath(__ovModuleUrl(rel));',
  'const __ovModuleDir = (rel) => __ovDirname(__ovModulePath(rel));',
].join('\n')

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: [ENTRY],
  outfile: ENTRY,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@electric-sql/pglite'],
  // Smaller source to parse; identifiers and function names are kept for stack traces and logs.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  banner: { js: banner },
  plugins: [ownLocation],
  logLevel: 'warning',
  metafile: true,
})
const { bytes } = result.metafile.outputs['dist/main.js']
process.stdout.write(`bundled dist/main.js: ${Object.keys(result.metafile.inputs).length} modules, ${(bytes / 1e6).toFixed(1)} MB\n`)
