import type { HeartbeatStatus } from '@openvesper/scheduler'
import { type Static, Type } from 'typebox'
import { ref } from '../../http/components.js'

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])

export const HeartbeatAgentSchema = Type.Object(
  {
    agent: Type.String(),
    everyMs: Type.Integer({ description: 'Interval between beats (agent config `heartbeat.everyMs`).' }),
    instructions: Type.String({ description: 'The message of each beat (agent config `heartbeat.instructions`).' }),
    lastBeatAt: Time,
    lastOutcome: Type.Union([Type.String(), Type.Null()], { description: 'The last beat as a task firing outcome (`started`, `skipped`, `missed`, …).' }),
    lastRunId: Type.Union([Type.String(), Type.Null()]),
    lastRunStatus: Type.Union([Type.String(), Type.Null()]),
    nextBeatAt: Time,
  },
  { $id: 'HeartbeatAgent', additionalProperties: false },
)

export const HeartbeatStatusSchema = Type.Object({ agents: Type.Array(ref(HeartbeatAgentSchema)) }, { $id: 'HeartbeatStatus', additionalProperties: false })

export const heartbeatComponents = [HeartbeatAgentSchema, HeartbeatStatusSchema]

export const toHeartbeatAgent = (s: HeartbeatStatus): Static<typeof HeartbeatAgentSchema> => ({
  agent: s.agentId,
  everyMs: s.everyMs,
  instructions: s.instructions,
  lastBeatAt: s.lastBeatAt?.toISOString() ?? null,
  lastOutcome: s.lastOutcome,
  lastRunId: s.lastRunId,
  lastRunStatus: s.lastRunStatus,
  nextBeatAt: s.nextBeatAt?.toISOString() ?? null,
})
