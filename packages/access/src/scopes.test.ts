import { describe, expect, it } from 'vitest'
import { hasScopes, isScope, SCOPE_DESCRIPTIONS, SCOPES } from './scopes.js'

describe('scopes', () => {
  it('describes every scope', () => {
    expect(Object.keys(SCOPE_DESCRIPTIONS).sort()).toEqual([...SCOPES].sort())
  })

  it('recognises only listed scopes', () => {
    for (const scope of SCOPES) expect(isScope(scope)).toBe(true)
    expect(isScope('runs:delete')).toBe(false)
    expect(isScope('ADMIN')).toBe(false)
  })

  it('admin satisfies every scope; otherwise every required scope must be granted', () => {
    expect(hasScopes(['admin'], ['runs:read', 'runs:write'])).toBe(true)
    expect(hasScopes(['runs:read'], ['runs:read'])).toBe(true)
    expect(hasScopes(['runs:read'], ['runs:read', 'runs:write'])).toBe(false)
    expect(hasScopes([], [])).toBe(true)
  })
})
