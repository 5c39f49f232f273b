import { describe, expect, it } from 'vitest'
import { decideCall, globMatches, type PolicyCall, type PolicyRule, ruleMatches } from './rules.js'

const call = (over: Partial<PolicyCall> = {}): PolicyCall => ({
  tool: 'shell_exec',
  risk: 'high',
  agent: 'main',
  sessionKey: 'user:alice',
  args: { cmd: 'rm -rf /tmp/x', n: 3 },
  ...over,
})

describe('globs', () => {
  it('matches * and ? and nothing else specially', () => {
    expect(globMatches('shell_*', 'shell_exec')).toBe(true)
    expect(globMatches('shell_?xec', 'shell_exec')).toBe(true)
    expect(globMatches('shell_*', 'myshell_exec')).toBe(false)
    expect(globMatches('a.c', 'abc')).toBe(false)
    expect(globMatches('a.c', 'a.c')).toBe(true)
    expect(globMatches('(x)+[y]', '(x)+[y]')).toBe(true)
    expect(globMatches('*', '')).toBe(true)
    expect(globMatches('rm *', 'rm -rf\n/')).toBe(true)
  })
})

describe('rule matching', () => {
  it('an empty match matches every call', () => {
    expect(ruleMatches({}, call())).toBe(true)
  })
  it('checks tool, agent, session key, risk and arguments', () => {
    expect(ruleMatches({ tool: 'shell_*', agent: 'main' }, call())).toBe(true)
    expect(ruleMatches({ agent: 'other' }, call())).toBe(false)
    expect(ruleMatches({ sessionKey: 'user:*' }, call())).toBe(true)
    expect(ruleMatches({ sessionKey: 'user:*' }, call({ sessionKey: null }))).toBe(false)
    expect(ruleMatches({ risk: 'medium' }, call({ risk: 'high' }))).toBe(true)
    expect(ruleMatches({ risk: 'high' }, call({ risk: 'medium' }))).toBe(false)
    expect(ruleMatches({ args: { cmd: 'rm *' } }, call())).toBe(true)
    expect(ruleMatches({ args: { cmd: 'ls *' } }, call())).toBe(false)
    expect(ruleMatches({ args: { n: '3' } }, call())).toBe(true)
    expect(ruleMatches({ args: { missing: '*' } }, call())).toBe(false)
    // An inherited property is not an argument.
    expect(ruleMatches({ args: { toString: '*' } }, call())).toBe(false)
  })
})

describe('first match wins', () => {
  const rules: PolicyRule[] = [
    { match: { tool: 'shell_exec', args: { cmd: 'ls*' } }, action: 'allow' },
    { match: { tool: 'shell_*' }, action: 'ask' },
    { match: { risk: 'high' }, action: 'deny', reason: 'too risky' },
  ]
  it('takes the first matching rule and names its index', () => {
    expect(decideCall(rules, call({ args: { cmd: 'ls -l' } }), 'allow')).toEqual({ action: 'allow', index: 0, reason: undefined })
    expect(decideCall(rules, call(), 'allow')).toEqual({ action: 'ask', index: 1, reason: undefined })
    expect(decideCall(rules, call({ tool: 'web_fetch' }), 'allow')).toEqual({ action: 'deny', index: 2, reason: 'too risky' })
  })
  it('falls back to the default when nothing matches', () => {
    expect(decideCall(rules, call({ tool: 'current_time', risk: 'low' }), 'ask')).toEqual({ action: 'ask' })
    expect(decideCall([], call(), 'deny')).toEqual({ action: 'deny' })
  })
})
