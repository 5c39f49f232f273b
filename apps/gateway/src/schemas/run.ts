import { RUN_STATUSES, type RunRow } from '@openvesper/db'
import { type Static, Type } from 'typebox'
import { SessionKeySchema } from './session-key.js'

/** Text Postgres can store: no NUL, no unpaired UTF-16 surrogates (Ajv matches patterns with the `u` flag). */
export const TEXT_PATTERN = '^[^\\u0000\\ud800-\\udfff]*$'

export const RunStatusSchema = Type.Union(
  RUN_STATUSES.map((s) => Type.Literal(s)),
  { description: 'queued → running → completed | failed | cancelled; awaiting_approval while a tool call waits for a decision.' },
)

export const RunSchema = Type.Object(
  {
    runId: Type.String({ description: 'Run id (`run_…`).' }),
    status: RunStatusSchema,
    agent: Type.String(),
    sessionKey: Type.Union([Type.String(), Type.Null()]),
    mode: Type.Union([Type.Literal('sync'), Type.Literal('async'), Type.Literal('stream')]),
    output: Type.Union([Type.String(), Type.Null()], { description: 'The final reply; on a failed run, the partial output (if any).' }),
    failureReason: Type.Union([Type.String(), Type.Null()], {
      description:
        'Why a failed run failed: upstream_rate_limited, upstream_unavailable, upstream_timeout, upstream_auth, upstream_bad_request, upstream_bad_response, upstream_stream_interrupted, step_limit_exceeded, worker_lost, agent_not_found, internal.',
    }),
    error: Type.Union([Type.String(), Type.Null()]),
    model: Type.Union([Type.String(), Type.Null()]),
    usage: Type.Union([
      Type.Object({
        inputTokens: Type.Integer(),
        outputTokens: Type.Integer(),
        estimated: Type.Optional(Type.Boolean({ description: 'The provider reported no usage: the counts are a tokenizer estimate.' })),
      }),
      Type.Null(),
    ]),
    attempt: Type.Integer({ description: 'Executions so far (more than one after a worker was lost).' }),
    lastEventSeq: Type.Integer({ description: 'Sequence number of the latest event (resume cursor).' }),
    waiting: Type.Boolean({
      description:
        "Queued behind its session's active run (queue mode followup or collect): it starts when that run ends (GET /sessions/{key}/queue shows its place).",
    }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Run', additionalProperties: false },
)
export type Run = Static<typeof RunSchema>

export const RunAcceptedSchema = Type.Object(
  { runId: Type.String(), acceptedAt: Type.String({ format: 'date-time' }) },
  { $id: 'RunAccepted', additionalProperties: false },
)

export const CreateRunBodySchema = Type.Object(
  {
    message: Type.String({
      minLength: 1,
      maxLength: 200_000,
      pattern: TEXT_PATTERN,
      description: 'The user message (any Unicode text except NUL and unpaired surrogates, which Postgres cannot store).',
    }),
    agent: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$', description: 'Agent id; default `main`.' })),
    sessionKey: Type.Optional(SessionKeySchema),
    queueMode: Type.Optional(
      Type.Union([Type.Literal('reject'), Type.Literal('followup'), Type.Literal('collect'), Type.Literal('steer'), Type.Literal('interrupt')], {
        description: "What this message does if its session is busy; default: the session's queue mode (GET /sessions/{key}/queue).",
      }),
    ),
  },
  { $id: 'CreateRunBody', additionalProperties: false },
)

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** The API shape of a run, looking up its session key (use `toRun` when the caller already knows it). */
export async function describeRun(runs: { sessionKeyOf(row: RunRow): Promise<string | null> }, row: RunRow): Promise<Run> {
  return toRun(row, await runs.sessionKeyOf(row))
}

export function toRun(row: RunRow, sessionKey: string | null): Run {
  return {
    runId: row.id,
    status: row.status,
    agent: row.agentId,
    sessionKey,
    mode: row.mode,
    output: row.output,
    failureReason: row.failureReason,
    error: row.errorMessage,
    model: row.model,
    usage: row.usage ?? null,
    attempt: row.attempt,
    lastEventSeq: row.lastEventSeq,
    waiting: row.waiting,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
  } as Run
}

export const runSchemas = [RunSchema, RunAcceptedSchema, CreateRunBodySchema]
