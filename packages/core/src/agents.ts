import { existsSync, readFileSync } from 'node:fs'
import { AppError, notFound } from '@openvesper/shared'

export interface AgentDefinition {
  id: string
  description?: string
  /** `provider/model` or `echo`; unset: the gateway's default model. */
  model?: string
  systemPrompt?: string
  /** Names of tools from the registry this agent may call. */
  tools: string[]
  /** Model calls per run (tool-loop bound). */
  maxSteps?: number
}

export interface AgentRegistry {
  get(id: string): AgentDefinition
  has(id: string): boolean
  list(): AgentDefinition[]
}

export const DEFAULT_AGENT_ID = 'main'
const DEFAULT_AGENT: AgentDefinition = { id: DEFAULT_AGENT_ID, tools: ['current_time'] }
const AGENT_ID = /^[a-z][a-z0-9_-]{0,63}$/

/**
 * Reads `openvesper.config.json` (`{ "agents": [AgentDefinition…] }`). A missing file means the
 * single default agent `main`; a malformed file fails the start with every problem listed.
 */
export function loadAgents(path: string, knownTools: readonly string[]): AgentRegistry {
  const defs = existsSync(path) ? parseAgentsFile(path, knownTools) : [DEFAULT_AGENT]
  if (!defs.some((a) => a.id === DEFAULT_AGENT_ID)) defs.unshift(DEFAULT_AGENT)
  return createAgentRegistry(defs)
}

export function createAgentRegistry(defs: AgentDefinition[]): AgentRegistry {
  const byId = new Map(defs.map((a) => [a.id, a]))
  return {
    get(id) {
      const agent = byId.get(id)
      if (!agent) throw notFound('agent', id)
      return agent
    },
    has: (id) => byId.has(id),
    list: () => [...byId.values()],
  }
}

function parseAgentsFile(path: string, knownTools: readonly string[]): AgentDefinition[] {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new AppError('invalid_request', `agents file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  const problems: string[] = []
  const agents = (raw as { agents?: unknown }).agents
  if (!Array.isArray(agents)) throw new AppError('invalid_request', `agents file ${path}: expected { "agents": [...] }`)
  const seen = new Set<string>()
  const out: AgentDefinition[] = []
  agents.forEach((a: Record<string, unknown>, i) => {
    const where = `agents[${i}]`
    if (typeof a?.id !== 'string' || !AGENT_ID.test(a.id)) problems.push(`${where}.id: must match ${AGENT_ID}`)
    else if (seen.has(a.id)) problems.push(`${where}.id: duplicate '${a.id}'`)
    else seen.add(a.id)
    if (a.model !== undefined && (typeof a.model !== 'string' || !/^(echo|(openai|anthropic)\/[\w.:/-]+)$/.test(a.model)))
      problems.push(`${where}.model: must be echo, openai/<model> or anthropic/<model>`)
    if (a.systemPrompt !== undefined && typeof a.systemPrompt !== 'string') problems.push(`${where}.systemPrompt: must be a string`)
    if (a.maxSteps !== undefined && (!Number.isInteger(a.maxSteps) || (a.maxSteps as number) < 1 || (a.maxSteps as number) > 100))
      problems.push(`${where}.maxSteps: must be an integer from 1 to 100`)
    const tools = a.tools ?? []
    if (!Array.isArray(tools) || tools.some((t) => typeof t !== 'string')) problems.push(`${where}.tools: must be a list of tool names`)
    else for (const t of tools) if (!knownTools.includes(t)) problems.push(`${where}.tools: unknown tool '${t}' (known: ${knownTools.join(', ')})`)
    out.push({
      id: String(a.id),
      description: a.description as string | undefined,
      model: a.model as string | undefined,
      systemPrompt: a.systemPrompt as string | undefined,
      tools: (tools as string[]) ?? [],
      maxSteps: a.maxSteps as number | undefined,
    })
  })
  if (problems.length) throw new AppError('invalid_request', `agents file ${path}:\n  - ${problems.join('\n  - ')}`)
  return out
}
