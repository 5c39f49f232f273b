import { describe, expect, it } from 'vitest'
import { isQueueMode, resolveQueueMode } from './queue-modes.js'

describe('queue mode resolution', () => {
  it('takes the most specific setting: request, session, agent, default', () => {
    expect(resolveQueueMode({ request: 'steer', session: 'collect', agent: 'reject', fallback: 'followup' })).toEqual({ mode: 'steer', source: 'request' })
    expect(resolveQueueMode({ session: 'collect', agent: 'reject', fallback: 'followup' })).toEqual({ mode: 'collect', source: 'session' })
    expect(resolveQueueMode({ session: null, agent: 'reject', fallback: 'followup' })).toEqual({ mode: 'reject', source: 'agent' })
    expect(resolveQueueMode({ fallback: 'interrupt' })).toEqual({ mode: 'interrupt', source: 'default' })
  })

  it('ignores a stored session mode it does not know (a newer version wrote it) instead of failing the run', () => {
    expect(resolveQueueMode({ session: 'batch', fallback: 'followup' })).toEqual({ mode: 'followup', source: 'default' })
  })

  it('knows exactly the five modes', () => {
    expect(['reject', 'followup', 'collect', 'steer', 'interrupt'].every(isQueueMode)).toBe(true)
    expect([undefined, null, '', 'FOLLOWUP', 'queue', 3].some(isQueueMode)).toBe(false)
  })
})
