// Rewrites the configuration table in README.md from the config map (pnpm readme:env).
import { readFileSync, writeFileSync } from 'node:fs'
import { envTable } from '../packages/config/src/config.js'

const path = new URL('../README.md', import.meta.url)
const readme = readFileSync(path, 'utf8')
writeFileSync(path, readme.replace(/<!-- env-table:start -->[\s\S]*<!-- env-table:end -->/, `<!-- env-table:start -->\n${envTable()}\n<!-- env-table:end -->`))
