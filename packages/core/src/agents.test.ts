import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadAgents } from './agents.js'

const write = (content: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'ov-agents-')), 'openvesper.config.json')
  writeFileSync(path, content)
  return path
}

describe('loadAgents', () => {
  it('gives the single default agent main when the file does not exist', () => {
    const agents = loadAgents('/nonexistent/openvesper.config.json', ['current_time'])
    expect(agents.list().map((a) => a.id)).toEqual(['main'])
    expect(agents.get('main').tools).toEqual(['current_time'])
  })

  it('reads agents and keeps main available', () => {
    const agents = loadAgents(write(JSON.stringify({ agents: [{ id: 'writer', model: 'anthropic/claude-x', systemPrompt: 'terse', tools: [] }] })), [
      'current_time',
    ])
    expect(agents.has('main')).toBe(true)
    expect(agents.get('writer')).toMatchObject({ model: 'anthropic/claude-x', systemPrompt: 'terse', tools: [] })
    expect(() => agents.get('nope')).toThrow(/not found/)
  })

  it('lists every problem of a malformed file at once', () => {
    const path = write(JSON.stringify({ agents: [{ id: 'Bad Id' }, { id: 'a', model: 'gpt4', tools: ['rm_rf'], maxSteps: 0 }, { id: 'a' }] }))
    try {
      loadAgents(path, ['current_time'])
      expect.unreachable()
    } catch (err) {
      const msg = (err as Error).message
      for (const part of ['agents[0].id', 'agents[1].model', "unknown tool 'rm_rf'", 'agents[1].maxSteps', "duplicate 'a'"]) expect(msg).toContain(part)
    }
  })

  it('names the field of a value of the wrong type', () => {
    const path = write(JSON.stringify({ agents: [{ id: 'writer', systemPrompt: 42, tools: ['current_time', 7] }] }))
    try {
      loadAgents(path, ['current_time'])
      expect.unreachable()
    } catch (err) {
      const msg = (err as Error).message
      expect(msg).toContain(path)
      expect(msg).toContain('agents[0].systemPrompt: must be a string')
      expect(msg).toContain('agents[0].tools[1]: must be a tool name')
    }
  })

  it('refuses an unknown property, in an agent and at the top of the file, naming it', () => {
    const path = write(
      JSON.stringify({
        agents: [
          { id: 'writer', tools: [] },
          { id: 'reader', systemprompt: 'lowercase typo' },
        ],
        agent: [],
      }),
    )
    try {
      loadAgents(path, ['current_time'])
      expect.unreachable()
    } catch (err) {
      const msg = (err as Error).message
      expect(msg).toContain(path)
      expect(msg).toContain('agents[1].systemprompt: unknown property')
      expect(msg).toContain('agent: unknown property')
      expect(msg).not.toContain('agents[0]')
    }
  })

  it('rejects a file that is not JSON', () => {
    expect(() => loadAgents(write('{ nope'), [])).toThrow(/not valid JSON/)
  })
})
