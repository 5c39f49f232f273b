import type { SessionMessageRow, SessionRow } from '@openvesper/db'
import type { Page, QueueMode, SessionQueueView, SessionSummaryRow, SessionTokens } from '@openvesper/sessions'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern, PageQuery } from '../../http/params.js'
import { SessionKeySchema } from '../../schemas/session-key.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const DateTime = (description: string) => Type.String({ format: 'date-time', description })
const AgentId = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'Agent id.' })

const sessionProperties = {
  key: Type.String({ description: 'The session key, in its stored (NFC) form.' }),
  agentId: Type.String({ description: 'The agent later runs in the session use when they name none.' }),
  messageCount: Type.Integer({ description: 'Stored transcript entries, including those before a reset.' }),
  activeRunId: Type.Union([Type.String(), Type.Null()], { description: 'The queued or running run in the session, if any.' }),
  queueMode: Type.Union([Type.Literal('reject'), Type.Literal('followup'), Type.Literal('collect'), Type.Literal('steer'), Type.Literal('interrupt')], {
    description: "What a message to the busy session does when it names no mode: the session's own setting, else its agent's, else the gateway default.",
  }),
  epoch: Type.Integer({ description: 'Resets so far: the model sees only the messages of the current epoch.' }),
  resetAt: Type.Union([DateTime('When the current epoch began with a reset.'), Type.Null()], {
    description: 'When the current epoch began with a reset; null when it never was (or, for a branch of an earlier epoch, unknown).',
  }),
  createdAt: DateTime('When the session was created.'),
  lastActivityAt: DateTime('The last run created or completed in the session.'),
}

/** A session as listed. */
export const SessionSchema = Type.Object(sessionProperties, { $id: 'Session', additionalProperties: false })
export type Session = Static<typeof SessionSchema>

export const SessionListSchema = Type.Object(
  { items: Type.Array(ref(SessionSchema)), nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Null on the last page.' }) },
  { $id: 'SessionList', additionalProperties: false },
)

export const SessionMessageSchema = Type.Object(
  {
    id: Type.String({ description: 'Message id (`msg_…`): a branch point.' }),
    role: Type.Union([Type.Literal('user'), Type.Literal('assistant'), Type.Literal('tool')]),
    content: Type.Object(
      { text: Type.Optional(Type.String()) },
      { additionalProperties: true, description: 'The provider-neutral message: `text` for user and assistant turns.' },
    ),
    runId: Type.Union([Type.String(), Type.Null()], { description: 'The run that wrote it.' }),
    epoch: Type.Integer({ description: "The session's epoch when it was written." }),
    beforeReset: Type.Boolean({ description: 'Written before the last reset: stored and readable, no longer sent to the model.' }),
    createdAt: DateTime('When it was written.'),
  },
  { $id: 'SessionMessage', additionalProperties: false },
)
export type SessionMessage = Static<typeof SessionMessageSchema>

export const SessionMessagePageSchema = Type.Object(
  { items: Type.Array(ref(SessionMessageSchema)), nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Null on the last page.' }) },
  { $id: 'SessionMessagePage', additionalProperties: false },
)

export const SessionDetailSchema = Type.Object(
  {
    ...sessionProperties,
    settings: Type.Object({ agentId: Type.String() }, { additionalProperties: false, description: 'What fork and branch copy and reset keeps.' }),
    messages: ref(SessionMessagePageSchema),
  },
  { $id: 'SessionDetail', additionalProperties: false },
)

export const PruneResultSchema = Type.Object(
  {
    dryRun: Type.Boolean(),
    count: Type.Integer({ description: 'Sessions dropped (with dryRun: that would be dropped).' }),
  },
  { $id: 'SessionPruneResult', additionalProperties: false },
)

export const SessionParams = Type.Object({ key: SessionKeySchema }, { additionalProperties: false })

export const ListSessionsQuery = Type.Object(
  {
    agentId: Type.Optional(AgentId),
    activeSince: Type.Optional(DateTime('Only sessions whose last activity is at or after this time.')),
    activeBefore: Type.Optional(DateTime('Only sessions whose last activity is before this time.')),
    ...PageQuery,
  },
  { additionalProperties: false },
)

export const GetSessionQuery = Type.Object({ limit: PageQuery.limit }, { additionalProperties: false })

export const MessagesQuery = Type.Object(
  {
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'asc (default): oldest first; desc: newest first.' })),
    ...PageQuery,
  },
  { additionalProperties: false },
)

export const SetAgentBody = Type.Object({ agentId: AgentId }, { additionalProperties: false })
export const ForkBody = Type.Object({ key: SessionKeySchema }, { additionalProperties: false, description: 'The new session key.' })
export const BranchBody = Type.Object(
  { key: SessionKeySchema, messageId: idPattern('message', { description: 'The last message the branch keeps.' }) },
  { additionalProperties: false },
)
const QueueModeSchema = Type.Union(
  [Type.Literal('reject'), Type.Literal('followup'), Type.Literal('collect'), Type.Literal('steer'), Type.Literal('interrupt')],
  {
    description:
      'What a message does while its session is busy: `reject` (409 with the active run id), `followup` (waits, starts when the active run ends, in arrival order), `collect` (merged with the other messages that arrive while busy into one turn, after a debounce window), `steer` (delivered into the running run at its next model step), `interrupt` (the active run is cancelled and this one starts).',
  },
)

export const SessionQueueSchema = Type.Object(
  {
    key: Type.String({ description: 'The session key.' }),
    mode: QueueModeSchema,
    source: Type.Union([Type.Literal('session'), Type.Literal('agent'), Type.Literal('default')], {
      description: "Where the mode comes from: the session's own setting, its agent's config, or the gateway default.",
    }),
    cap: Type.Integer({ description: 'Runs that may wait; past it a message gets 429 with Retry-After.' }),
    activeRunId: Type.Union([Type.String(), Type.Null()], { description: 'The run executing (or about to start) in the session.' }),
    waiting: Type.Array(
      Type.Object(
        {
          runId: Type.String(),
          message: Type.String({ description: 'The message (a `collect` run: the merged messages, in arrival order).' }),
          messages: Type.Integer({ description: 'How many messages it holds (more than one only in `collect` mode).' }),
          createdAt: DateTime('When it started waiting.'),
        },
        { additionalProperties: false },
      ),
      { description: 'The waiting runs, in the order they start.' },
    ),
  },
  { $id: 'SessionQueue', additionalProperties: false },
)

export const SessionTokensSchema = Type.Object(
  {
    key: Type.String({ description: 'The session key.' }),
    inputTokens: Type.Integer({ description: "Input tokens of the session's runs (the provider's usage; else an estimate)." }),
    outputTokens: Type.Integer({ description: "Output tokens of the session's runs." }),
    estimated: Type.Boolean({ description: 'Some counts are a tokenizer estimate (o200k): the provider reported no usage.' }),
    runs: Type.Integer({ description: 'Runs counted.' }),
    model: Type.String({ description: "The session agent's model (`provider/model` or `echo`)." }),
    contextTokens: Type.Integer({
      description: "Estimated tokens the next turn sends: the agent's system prompt and the transcript since the last reset (bounded).",
    }),
    contextWindow: Type.Integer({ description: "The model's context window (the agent's `contextWindow`, else the built-in table)." }),
    windowKnown: Type.Boolean({ description: 'False: the model is unknown and a conservative window (32,000) applies; set `contextWindow` on the agent.' }),
  },
  { $id: 'SessionTokens', additionalProperties: false },
)

export const toTokens = (t: SessionTokens) => ({
  key: t.session.key,
  inputTokens: t.inputTokens,
  outputTokens: t.outputTokens,
  estimated: t.estimated,
  runs: t.runs,
  model: t.model,
  contextTokens: t.contextTokens,
  contextWindow: t.contextWindow,
  windowKnown: t.windowKnown,
})

export const SetQueueModeBody = Type.Object(
  { mode: Type.Union([QueueModeSchema, Type.Null()], { description: "The session's mode; null: back to its agent's or the default." }) },
  { additionalProperties: false },
)

export const toQueue = (q: SessionQueueView) => ({
  key: q.session.key,
  mode: q.mode,
  source: q.source === 'request' ? ('session' as const) : q.source,
  cap: q.cap,
  activeRunId: q.activeRunId,
  waiting: q.waiting.map((w) => ({ runId: w.id, message: w.message, messages: w.messages, createdAt: w.createdAt.toISOString() })),
})

export const PruneBody = Type.Object(
  {
    olderThanMs: Type.Integer({ minimum: 1, maximum: 3_153_600_000_000, description: 'Drop sessions with no activity for longer than this.' }),
    dryRun: Type.Optional(Type.Boolean({ description: 'Only count them. Default false.' })),
  },
  { additionalProperties: false },
)

export const sessionComponents = [
  SessionQueueSchema,
  SessionTokensSchema,
  SessionSchema,
  SessionListSchema,
  SessionMessageSchema,
  SessionMessagePageSchema,
  SessionDetailSchema,
  PruneResultSchema,
]

export const toSession = (s: SessionSummaryRow, queueMode: QueueMode): Session => ({
  key: s.key,
  agentId: s.agentId,
  messageCount: s.messageCount,
  activeRunId: s.activeRunId,
  queueMode,
  epoch: s.epoch,
  resetAt: iso(s.resetAt),
  createdAt: s.createdAt.toISOString(),
  lastActivityAt: s.updatedAt.toISOString(),
})

export const toMessage = (session: Pick<SessionRow, 'epoch'>, m: SessionMessageRow): SessionMessage => ({
  id: m.id,
  role: m.role,
  content: m.content as SessionMessage['content'],
  runId: m.runId,
  epoch: m.epoch,
  beforeReset: m.epoch < session.epoch,
  createdAt: m.createdAt.toISOString(),
})

export const toMessagePage = (session: Pick<SessionRow, 'epoch'>, page: Page<SessionMessageRow>) => ({
  items: page.items.map((m) => toMessage(session, m)),
  nextCursor: page.nextCursor,
})
