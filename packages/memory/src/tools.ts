import { MEMORY_KINDS, type MemoryKind } from '@openvesper/db'
import type { MemoryService } from './memory.service.js'

/**
 * The agent tools `memory_save` and `memory_search`, shaped as core's `Tool` (memory does not import core: the
 * composition root adds them to the registry). Both act for the running agent of the calling principal; search also
 * reads the memory the agent's settings share. What a model saves is stored verbatim, tagged and flagged untrusted.
 */
export interface MemoryToolContext {
  runId: string
  principalId: string
  agentId: string
  sessionId: string | null
  signal: AbortSignal
}

export interface MemoryTool {
  name: string
  description: string
  parameters: Record<string, unknown>
  sideEffects: boolean
  execute(args: Record<string, unknown>, ctx: MemoryToolContext): Promise<string>
}

const MAX_TEXT = 8000

export function createMemoryTools(memory: MemoryService): MemoryTool[] {
  const save: MemoryTool = {
    name: 'memory_save',
    description: 'Save a memory for later runs of this agent (any session): a fact, preference, event or note, with optional tags.',
    parameters: {
      type: 'object',
      properties: {
        text: { type: 'string', description: 'What to remember, in one or two sentences.' },
        kind: { type: 'string', enum: [...MEMORY_KINDS], description: 'Default note.' },
        tags: { type: 'array', items: { type: 'string' } },
      },
      required: ['text'],
      additionalProperties: false,
    },
    sideEffects: true,
    async execute(args, ctx) {
      const text = typeof args.text === 'string' ? args.text : ''
      if (text.trim() === '') return JSON.stringify({ error: 'text is required' })
      if (text.length > MAX_TEXT) return JSON.stringify({ error: `text is longer than ${MAX_TEXT} characters` })
      const kind = (MEMORY_KINDS as readonly string[]).includes(args.kind as string) ? (args.kind as MemoryKind) : 'note'
      const tags = Array.isArray(args.tags) ? args.tags.filter((t): t is string => typeof t === 'string' && t.length > 0 && t.length <= 64).slice(0, 16) : []
      const [entry] = await memory.addFromTool({ id: ctx.principalId }, ctx.agentId, [
        { text, kind, tags, metadata: { runId: ctx.runId, ...(ctx.sessionId ? { sessionId: ctx.sessionId } : {}) } },
      ])
      return JSON.stringify({ id: entry!.id, merged: entry!.merged })
    },
  }
  const search: MemoryTool = {
    name: 'memory_search',
    description: 'Search the memories saved by this agent (full-text, and by meaning when available). Returns the best matches.',
    parameters: {
      type: 'object',
      properties: {
        query: { type: 'string' },
        limit: { type: 'integer', minimum: 1, maximum: 20, description: 'Default 5.' },
      },
      required: ['query'],
      additionalProperties: false,
    },
    sideEffects: false,
    async execute(args, ctx) {
      const query = typeof args.query === 'string' ? args.query : ''
      const limit = typeof args.limit === 'number' && Number.isInteger(args.limit) ? Math.min(Math.max(args.limit, 1), 20) : 5
      const result = await memory.searchAsAgent({ id: ctx.principalId }, ctx.agentId, { query, limit })
      return JSON.stringify({
        mode: result.mode,
        results: result.items.map((h) => ({ id: h.entry.id, kind: h.entry.kind, text: h.entry.text, tags: h.entry.tags, untrusted: h.entry.untrusted })),
      })
    },
  }
  return [save, search]
}
