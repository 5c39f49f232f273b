import type { CommitmentRow } from '@openvesper/db'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'
import { idPattern } from '../../http/params.js'

const StatusSchema = Type.Union([Type.Literal('open'), Type.Literal('fulfilled'), Type.Literal('cancelled'), Type.Literal('followed_up')], {
  description: '`followed_up`: it fell due open and its follow-up run was started (`followUpRunId`).',
})

export const CommitmentSchema = Type.Object(
  {
    id: Type.String({ description: 'Commitment id (`cmt_…`).' }),
    agent: Type.String(),
    sessionKey: Type.String({ description: 'The session it was made in; its follow-up runs there.' }),
    text: Type.String(),
    dueAt: Type.String({ format: 'date-time' }),
    status: StatusSchema,
    sourceRunId: Type.Union([Type.String(), Type.Null()], { description: 'The run whose tool call made it, if any.' }),
    followUpRunId: Type.Union([Type.String(), Type.Null()]),
    note: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Commitment', additionalProperties: false },
)

export const CommitmentListSchema = Type.Object({ items: Type.Array(ref(CommitmentSchema)) }, { $id: 'CommitmentList', additionalProperties: false })

export const CreateCommitmentBody = Type.Object(
  {
    agent: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$', description: "Default 'main'." })),
    sessionKey: Type.String({ minLength: 1, maxLength: 512 }),
    text: Type.String({ minLength: 1, maxLength: 10_000 }),
    dueAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)

export const FulfillBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 10_000 })) }, { additionalProperties: false })

export const ListCommitmentsQuery = Type.Object(
  {
    status: Type.Optional(StatusSchema),
    sessionKey: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'At most this many, soonest due first (default 100).' })),
  },
  { additionalProperties: false },
)

export const CommitmentParams = Type.Object({ id: idPattern('commitment') }, { additionalProperties: false })

export const commitmentComponents = [CommitmentSchema, CommitmentListSchema]

export const toCommitment = (c: CommitmentRow): Static<typeof CommitmentSchema> => ({
  id: c.id,
  agent: c.agentId,
  sessionKey: c.sessionKey,
  text: c.text,
  dueAt: c.dueAt.toISOString(),
  status: c.status,
  sourceRunId: c.sourceRunId,
  followUpRunId: c.followUpRunId,
  note: c.note,
  createdAt: c.createdAt.toISOString(),
  updatedAt: c.updatedAt.toISOString(),
})
