import { createHash } from 'node:crypto'
import { type Db, type ToolCallRow, toolCalls } from '@openvesper/db'
import { and, eq } from 'drizzle-orm'

/** One tool call of a run: the model's call id within one step (model call) of the turn loop. */
export interface ToolCallKey {
  runId: string
  step: number
  toolCallId: string
}

/** What a tool call is recorded with before it runs. */
export interface ToolCallStart {
  name: string
  /** The arguments as the model sent them (hashed), and parsed. */
  arguments: string
  args: Record<string, unknown>
}

export interface ToolCallOutcome {
  content: string
  isError: boolean
}

const argsHash = (args: string) => createHash('sha256').update(args).digest('hex')

/**
 * The tool-call ledger (`tool_calls`): a row is started before the tool runs and completed with its result, so an
 * executor re-running an attempt finds a finished call and reuses its result instead of calling the tool again,
 * and finds a started one whose outcome was lost.
 */
export function createToolLedger(db: Db) {
  const where = (key: ToolCallKey) => and(eq(toolCalls.runId, key.runId), eq(toolCalls.step, key.step), eq(toolCalls.toolCallId, key.toolCallId))
  return {
    /** The recorded call, started or finished (`status` succeeded or failed, with its `result`). */
    async find(key: ToolCallKey): Promise<ToolCallRow | undefined> {
      const [row] = await db.select().from(toolCalls).where(where(key)).limit(1)
      return row
    },

    /** Records the call as started; a call already recorded is left as it is. */
    async start(key: ToolCallKey, call: ToolCallStart): Promise<void> {
      await db
        .insert(toolCalls)
        .values({ ...key, name: call.name, argsHash: argsHash(call.arguments), args: call.args, status: 'started' })
        .onConflictDoNothing()
    },

    /** Stores the call's result: succeeded, or failed when `isError`. */
    async complete(key: ToolCallKey, outcome: ToolCallOutcome): Promise<void> {
      await db
        .update(toolCalls)
        .set({ status: outcome.isError ? 'failed' : 'succeeded', result: outcome.content, isError: outcome.isError })
        .where(where(key))
    },
  }
}
