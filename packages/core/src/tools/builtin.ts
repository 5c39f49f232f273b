import type { Tool } from './registry.js'

/** The current time, optionally in an IANA time zone. Read-only. */
export const currentTimeTool: Tool = {
  name: 'current_time',
  description: 'Returns the current date and time (ISO 8601 UTC, and local time when a time zone is given).',
  parameters: {
    type: 'object',
    properties: { timezone: { type: 'string', description: 'IANA time zone, e.g. Europe/Paris' } },
    additionalProperties: false,
  },
  sideEffects: false,
  risk: 'low',
  async execute(args, ctx) {
    const now = ctx.now()
    const tz = typeof args.timezone === 'string' ? args.timezone : undefined
    if (!tz) return JSON.stringify({ utc: now.toISOString() })
    try {
      const local = new Intl.DateTimeFormat('en-CA', { timeZone: tz, dateStyle: 'short', timeStyle: 'medium', hour12: false }).format(now)
      return JSON.stringify({ utc: now.toISOString(), timezone: tz, local })
    } catch {
      throw new Error(`unknown time zone '${tz}'`)
    }
  },
}

export const builtinTools: Tool[] = [currentTimeTool]
