import { describe, expect, it } from 'vitest'
import { checkSchedule, nextFire, nextFires } from './next-fire.js'

const iso = (ms: number[]) => ms.map((m) => new Date(m).toISOString())
const at = (s: string) => Date.parse(s)
const opts = { minIntervalMs: 1000, now: at('2026-03-01T00:00:00Z') }

describe('next fire', () => {
  it('reads a five-field cron pattern in its IANA time zone (weekdays 09:00 Europe/Berlin)', () => {
    const s = { kind: 'cron' as const, cron: '0 9 * * 1-5', tz: 'Europe/Berlin' }
    // 2026-03-06 is a Friday: the next fire after it is Monday 09:00 CET (08:00Z).
    expect(iso(nextFires(s, at('2026-03-06T09:00:00Z'), 2))).toEqual(['2026-03-09T08:00:00.000Z', '2026-03-10T08:00:00.000Z'])
  })

  it('reads six fields with seconds first, and returns ticks strictly after the instant', () => {
    const s = { kind: 'cron' as const, cron: '*/15 * * * * *', tz: 'UTC' }
    expect(iso(nextFires(s, at('2026-03-01T00:00:00Z'), 3))).toEqual(['2026-03-01T00:00:15.000Z', '2026-03-01T00:00:30.000Z', '2026-03-01T00:00:45.000Z'])
    expect(nextFire(s, at('2026-03-01T00:00:14.999Z'))).toBe(at('2026-03-01T00:00:15Z'))
  })

  it('spring forward: a 02:30 job fires once, at 03:30 CEST, on the day 02:30 does not exist', () => {
    const s = { kind: 'cron' as const, cron: '30 2 * * *', tz: 'Europe/Berlin' }
    expect(iso(nextFires(s, at('2026-03-27T12:00:00Z'), 3))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST: the 02:30 that did not exist
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ])
  })

  it('fall back: an hourly job fires once per real hour, at both 02:00s', () => {
    const s = { kind: 'cron' as const, cron: '0 * * * *', tz: 'Europe/Berlin' }
    expect(iso(nextFires(s, at('2026-10-24T23:30:00Z'), 4))).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET (the repeated hour)
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T03:00:00.000Z',
    ])
  })

  it('fixed intervals stay on the grid of their anchor; a single time fires once', () => {
    const every = { kind: 'every' as const, everyMs: 1000, anchorAt: at('2026-03-01T00:00:00.250Z') }
    expect(iso(nextFires(every, at('2026-03-01T00:00:05.300Z'), 2))).toEqual(['2026-03-01T00:00:06.250Z', '2026-03-01T00:00:07.250Z'])
    expect(nextFire(every, at('2026-03-01T00:00:00.250Z'))).toBe(at('2026-03-01T00:00:01.250Z'))
    const once = { kind: 'once' as const, at: at('2026-04-01T00:00:00Z') }
    expect(nextFires(once, opts.now, 3)).toEqual([at('2026-04-01T00:00:00Z')])
    expect(nextFire(once, at('2026-04-01T00:00:00Z'))).toBeUndefined()
  })
})

describe('checkSchedule', () => {
  it('accepts good schedules', () => {
    expect(checkSchedule({ kind: 'cron', cron: '0 9 * * 1-5', tz: 'Europe/Berlin' }, opts)).toBeUndefined()
    expect(checkSchedule({ kind: 'cron', cron: '* * * * * *', tz: 'UTC' }, opts)).toBeUndefined()
    expect(checkSchedule({ kind: 'every', everyMs: 1000, anchorAt: opts.now }, opts)).toBeUndefined()
  })

  it('refuses with the reason: never firing, bad pattern, wrong field count, bad zone, too small, past', () => {
    expect(checkSchedule({ kind: 'cron', cron: '0 0 31 2 *', tz: 'UTC' }, opts)).toMatchObject({
      path: '/schedule/cron',
      reason: expect.stringMatching(/never fires/),
    })
    expect(checkSchedule({ kind: 'cron', cron: 'not a cron', tz: 'UTC' }, opts)).toMatchObject({
      path: '/schedule/cron',
      reason: expect.stringMatching(/five fields|not a valid/),
    })
    expect(checkSchedule({ kind: 'cron', cron: '* * * *', tz: 'UTC' }, opts)?.reason).toMatch(/has 4/)
    expect(checkSchedule({ kind: 'cron', cron: '61 * * * *', tz: 'UTC' }, opts)?.reason).toMatch(/not a valid cron expression/)
    expect(checkSchedule({ kind: 'cron', cron: '0 * * * *', tz: 'Mars/Olympus' }, opts)).toMatchObject({
      path: '/schedule/tz',
      reason: expect.stringMatching(/IANA/),
    })
    expect(checkSchedule({ kind: 'every', everyMs: 999, anchorAt: opts.now }, opts)).toMatchObject({
      path: '/schedule/everyMs',
      reason: expect.stringMatching(/at least 1000 ms/),
    })
    expect(checkSchedule({ kind: 'cron', cron: '* * * * * *', tz: 'UTC' }, { ...opts, minIntervalMs: 5000 })?.reason).toMatch(
      /more often than the minimum interval of 5000 ms/,
    )
    expect(checkSchedule({ kind: 'once', at: opts.now - 1 }, opts)).toMatchObject({ path: '/schedule/at', reason: expect.stringMatching(/past/) })
  })
})
