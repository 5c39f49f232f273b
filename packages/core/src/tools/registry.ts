import type { ToolSpec } from '../providers/types.js'

/** Who a tool call acts for: tools scope what they read and write by these (an agent's memory, a session's commitments). */
export interface ToolContext {
  runId: string
  principalId: string
  agentId: string
  sessionId: string | null
  signal: AbortSignal
  now(): Date
}

export interface Tool {
  name: string
  description: string
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>
  /** True when running it twice would do something twice; the ledger never repeats such a call after a crash. */
  sideEffects: boolean
  /** How dangerous a call is, for the tool policy's rules (`risk` matches); default low. */
  risk?: 'low' | 'medium' | 'high'
  execute(args: Record<string, unknown>, ctx: ToolContext): Promise<string>
}

export interface ToolRegistry {
  names(): string[]
  get(name: string): Tool | undefined
  specs(names: readonly string[]): ToolSpec[]
}

export function createToolRegistry(tools: Tool[]): ToolRegistry {
  const byName = new Map(tools.map((t) => [t.name, t]))
  if (byName.size !== tools.length) throw new Error('duplicate tool names in the registry')
  return {
    names: () => [...byName.keys()],
    get: (name) => byName.get(name),
    specs: (names) =>
      names.flatMap((n) => {
        const t = byName.get(n)
        return t ? [{ name: t.name, description: t.description, parameters: t.parameters }] : []
      }),
  }
}
