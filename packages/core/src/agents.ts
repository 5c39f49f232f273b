import { existsSync, readFileSync } from 'node:fs'
import { QUEUE_MODES } from '@openvesper/sessions'
import { AppError, notFound } from '@openvesper/shared'
import { type Static, type TSchema, Type } from 'typebox'
import { Compile } from 'typebox/compile'

const AGENT_ID = /^[a-z][a-z0-9_-]{0,63}$/
const MODEL_REF = /^(echo|(openai|anthropic)\/[\w.:/-]+)$/

/**
 * One agent of the agents file. A new setting is one property here (optional, with its bounds and, when the
 * generic message would not help, a `problem` text); unknown properties are refused, so a typo fails the start.
 */
export const AgentSchema = Type.Object(
  {
    id: Type.String({ pattern: AGENT_ID.source, problem: `must match ${AGENT_ID}` }),
    description: Type.Optional(Type.String()),
    /** `provider/model` or `echo`; unset: the gateway's default model. */
    model: Type.Optional(Type.String({ pattern: MODEL_REF.source, problem: 'must be echo, openai/<model> or anthropic/<model>' })),
    systemPrompt: Type.Optional(Type.String({ problem: 'must be a string' })),
    /** Names of tools from the registry this agent may call (checked against the registry when loading). */
    tools: Type.Optional(Type.Array(Type.String({ problem: 'must be a tool name' }), { problem: 'must be a list of tool names' })),
    /** Model calls per run (tool-loop bound). */
    maxSteps: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, problem: 'must be an integer from 1 to 100' })),
    /** The model's context window in tokens, when the built-in table does not know it (or to use less of it). */
    contextWindow: Type.Optional(Type.Integer({ minimum: 1024, maximum: 10_000_000, problem: 'must be an integer from 1024 to 10000000' })),
    /** What a message to this agent's busy session does (sessions' own setting and the request's override it). */
    queueMode: Type.Optional(
      Type.Union(
        QUEUE_MODES.map((m) => Type.Literal(m)),
        { problem: `must be one of ${QUEUE_MODES.join(', ')}` },
      ),
    ),
    /** A periodic heartbeat run of this agent (the scheduler fires it; POST /heartbeat/reload re-reads it). */
    heartbeat: Type.Optional(
      Type.Object(
        {
          everyMs: Type.Integer({ minimum: 1000, maximum: 604_800_000, problem: 'must be an integer from 1000 to 604800000 (ms)' }),
          instructions: Type.String({ minLength: 1, maxLength: 10_000, problem: 'must be a non-empty string' }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Memory: `inject` = top-k relevant memories added to each run's context (0 or unset: none); `sharedWith` = other agents whose memory this one reads (same principal). */
    memory: Type.Optional(
      Type.Object(
        {
          inject: Type.Optional(Type.Integer({ minimum: 0, maximum: 20, problem: 'must be an integer from 0 to 20' })),
          sharedWith: Type.Optional(Type.Array(Type.String({ pattern: AGENT_ID.source, problem: `must match ${AGENT_ID}` }), { maxItems: 16 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

/** The agents file, `openvesper.config.json`. */
export const AgentsFileSchema = Type.Object({ agents: Type.Array(AgentSchema) }, { additionalProperties: false })
export type AgentsFile = Static<typeof AgentsFileSchema>

/** An agent as the registry holds it: the file's entry with its defaults applied. */
export type AgentDefinition = Omit<Static<typeof AgentSchema>, 'tools'> & {
  /** Names of tools from the registry this agent may call. */
  tools: string[]
}

export interface AgentRegistry {
  get(id: string): AgentDefinition
  has(id: string): boolean
  list(): AgentDefinition[]
}

export const DEFAULT_AGENT_ID = 'main'
const DEFAULT_AGENT: AgentDefinition = { id: DEFAULT_AGENT_ID, tools: ['current_time'] }

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

let compiled: ReturnType<typeof Compile<typeof AgentsFileSchema>> | undefined
const agentsFileValidator = () => (compiled ??= Compile(AgentsFileSchema))

function parseAgentsFile(path: string, knownTools: readonly string[]): AgentDefinition[] {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new AppError('invalid_request', `agents file ${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { agents?: unknown }).agents))
    throw new AppError('invalid_request', `agents file ${path}: expected { "agents": [...] }`)
  const validator = agentsFileValidator()
  const problems = validator.Check(raw) ? [] : schemaProblems(AgentsFileSchema, validator.Errors(raw))
  // What the schema cannot know: ids unique across the file, tools the registry has.
  const entries = (raw as { agents: unknown[] }).agents
  const seen = new Set<string>()
  entries.forEach((a, i) => {
    const { id, tools } = (typeof a === 'object' && a !== null ? a : {}) as { id?: unknown; tools?: unknown }
    if (typeof id === 'string' && AGENT_ID.test(id)) {
      if (seen.has(id)) problems.push(`agents[${i}].id: duplicate '${id}'`)
      seen.add(id)
    }
    if (Array.isArray(tools))
      for (const t of tools)
        if (typeof t === 'string' && !knownTools.includes(t)) problems.push(`agents[${i}].tools: unknown tool '${t}' (known: ${knownTools.join(', ')})`)
  })
  if (problems.length) throw new AppError('invalid_request', `agents file ${path}:\n  - ${sortByAgent(problems).join('\n  - ')}`)
  return (raw as AgentsFile).agents.map((a) => ({ ...a, tools: a.tools ?? [] }))
}

interface SchemaError {
  keyword: string
  schemaPath: string
  instancePath: string
  params: Record<string, unknown>
  message: string
}

/** `/agents/1/maxSteps` → `agents[1].maxSteps`. */
function fieldPath(pointer: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  return parts.reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out ? `${out}.${p}` : p), '') || '(file)'
}

/** The schema a `#/properties/...` schema path points at. */
function schemaAt(root: TSchema, schemaPath: string): Record<string, unknown> | undefined {
  let node: unknown = root
  for (const part of schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) node = (node as Record<string, unknown> | undefined)?.[part]
  return node as Record<string, unknown> | undefined
}

/** One line per failing field: its path, then the schema's `problem` text or the validator's message. */
function schemaProblems(root: TSchema, errors: readonly SchemaError[]): string[] {
  const out: string[] = []
  for (const e of errors) {
    if (e.keyword === 'boolean' && e.schemaPath.endsWith('/additionalProperties')) continue // the additionalProperties error says it
    if (e.keyword === 'additionalProperties') {
      const known = Object.keys((schemaAt(root, e.schemaPath)?.properties as object | undefined) ?? {})
      for (const name of (e.params.additionalProperties as string[] | undefined) ?? [])
        out.push(`${fieldPath(`${e.instancePath}/${name}`)}: unknown property (known: ${known.join(', ')})`)
      continue
    }
    if (e.keyword === 'required') {
      for (const name of (e.params.requiredProperties as string[] | undefined) ?? []) out.push(`${fieldPath(`${e.instancePath}/${name}`)}: required`)
      continue
    }
    const problem = schemaAt(root, e.schemaPath)?.problem
    const line = `${fieldPath(e.instancePath)}: ${typeof problem === 'string' ? problem : e.message}`
    if (!out.includes(line)) out.push(line)
  }
  return out
}

/** Problems in the order of the agents they concern (a stable sort: the file's own order within one agent). */
const sortByAgent = (problems: string[]) => {
  const index = (p: string) => Number(/^agents\[(\d+)\]/.exec(p)?.[1] ?? -1)
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => index(a.p) - index(b.p) || a.i - b.i)
    .map((x) => x.p)
}
