import { readFileSync } from 'node:fs'
import { envTable } from '@openvesper/config'
import { describe, expect, it } from 'vitest'

describe('README', () => {
  it('documents every environment variable exactly as the config map defines it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const block = readme.match(/<!-- env-table:start -->\n([\s\S]*)\n<!-- env-table:end -->/)?.[1]
    expect(block, 'regenerate the table: pnpm readme:env').toBe(envTable())
  })

  it('gives the two quick-start commands', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    expect(readme).toMatch(/npm start/)
    expect(readme).toMatch(/npm test/)
  })
})
