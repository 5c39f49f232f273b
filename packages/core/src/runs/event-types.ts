/**
 * The run event vocabulary, shared by SSE, WebSocket and the stored log: the event type names, the terminal set,
 * and the shapes of a stored event and of one still to be stored. No I/O; every other runs module imports it.
 *
 * `agent.*` follows the streamed turn protocol (text deltas, tool requests and results, turn completion);
 * `run.*` are lifecycle events.
 */
export const RUN_EVENT_TYPES = [
  'run.started',
  'agent.context_injected',
  'agent.context_truncated',
  'agent.text_delta',
  'agent.text',
  'agent.tool_request',
  'agent.tool_result',
  'agent.steered',
  'agent.turn_complete',
  'agent.error',
  'approval.requested',
  'approval.resolved',
  'run.retrying',
  'run.completed',
  'run.failed',
  'run.cancelled',
] as const
export type RunEventType = (typeof RUN_EVENT_TYPES)[number]
export const TERMINAL_EVENT_TYPES: readonly RunEventType[] = ['run.completed', 'run.failed', 'run.cancelled']
export const isTerminalEvent = (type: string): boolean => (TERMINAL_EVENT_TYPES as readonly string[]).includes(type)

/** A stored event: numbered (`seq`, from 1, without gaps) within its run. */
export interface RunEvent {
  runId: string
  seq: number
  type: RunEventType
  data: Record<string, unknown>
  createdAt: string
}

/** An event to append: `type` and `data`, numbered by the statement that stores it. */
export interface EventItem {
  type: RunEventType
  data: Record<string, unknown>
}

/** Only the executor holding this attempt of a running run may append (its lease). */
export interface Fence {
  attempt: number
}
