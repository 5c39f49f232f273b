/**
 * When a task fires: pure rules over a schedule, no I/O. Three kinds of schedule:
 *
 * - `cron`: five fields (`min hour day month weekday`) or six (seconds first), read in an IANA time zone, with
 *   `cron-parser` (the version BullMQ's job schedulers use, so both modes compute the same instants).
 *   Daylight saving time follows cron-parser's rule: a wall-clock time that does not exist on a spring-forward day
 *   (02:30 in Europe/Berlin on the last Sunday of March) fires once, an hour later in wall-clock terms (03:30 CEST);
 *   on a fall-back day, patterns fire by elapsed time, so an hourly job fires at both 02:00s (CEST, then CET) — once
 *   per real hour, never twice in one instant and never skipped.
 * - `every`: a fixed interval on the grid of its anchor (the task's creation time): anchor + k·interval.
 * - `once`: a single time.
 *
 * Ticks strictly after a given instant: a tick equal to "now" has fired (or is firing) already.
 */
import { CronExpressionParser } from 'cron-parser'

export type Schedule = { kind: 'cron'; cron: string; tz: string } | { kind: 'every'; everyMs: number; anchorAt: number } | { kind: 'once'; at: number }

/** Why a schedule is refused: the field at fault and a reason a person can act on. */
export interface ScheduleProblem {
  path: string
  reason: string
}

/** True when `tz` names an IANA time zone this runtime knows (`UTC`, `Europe/Berlin`). */
export function isTimeZone(tz: string): boolean {
  if (tz.trim() === '' || tz !== tz.trim()) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

function parseCron(cron: string, tz: string, fromMillis: number) {
  return CronExpressionParser.parse(cron, { tz, currentDate: new Date(fromMillis) })
}

/** The first tick strictly after `afterMillis`, or undefined when the schedule has none. */
export function nextFire(schedule: Schedule, afterMillis: number): number | undefined {
  switch (schedule.kind) {
    case 'once':
      return schedule.at > afterMillis ? schedule.at : undefined
    case 'every': {
      const { everyMs, anchorAt } = schedule
      if (afterMillis < anchorAt) return anchorAt + everyMs
      const k = Math.floor((afterMillis - anchorAt) / everyMs) + 1
      return anchorAt + k * everyMs
    }
    case 'cron': {
      try {
        const next = parseCron(schedule.cron, schedule.tz, afterMillis).next().getTime()
        // cron-parser's `currentDate` is inclusive at millisecond precision only after rounding to the second.
        return next > afterMillis ? next : nextFire(schedule, next)
      } catch {
        return undefined
      }
    }
  }
}

/** The next `count` ticks strictly after `afterMillis`, each after the previous one. */
export function nextFires(schedule: Schedule, afterMillis: number, count: number): number[] {
  const fires: number[] = []
  let from = afterMillis
  while (fires.length < count) {
    const next = nextFire(schedule, from)
    if (next === undefined) break
    fires.push(next)
    from = next
  }
  return fires
}

/**
 * Checks a schedule before it is stored: a cron pattern of five or six fields that parses and fires at least once
 * (`0 0 31 2 *` never does), a known time zone, ticks at least `minIntervalMs` apart, a single time in the future.
 * Returns the problem, or undefined when the schedule is good.
 */
export function checkSchedule(schedule: Schedule, options: { minIntervalMs: number; now: number }): ScheduleProblem | undefined {
  const { minIntervalMs, now } = options
  switch (schedule.kind) {
    case 'once':
      if (!Number.isFinite(schedule.at)) return { path: '/schedule/at', reason: 'not a valid time' }
      if (schedule.at <= now) return { path: '/schedule/at', reason: 'the time is in the past, so the task would never fire' }
      return undefined
    case 'every':
      if (!Number.isInteger(schedule.everyMs) || schedule.everyMs < minIntervalMs)
        return { path: '/schedule/everyMs', reason: `the interval must be a whole number of milliseconds, at least ${minIntervalMs} ms` }
      return undefined
    case 'cron': {
      if (!isTimeZone(schedule.tz)) return { path: '/schedule/tz', reason: `'${schedule.tz}' is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')` }
      const fields = schedule.cron.trim().split(/\s+/)
      if (fields.length !== 5 && fields.length !== 6)
        return {
          path: '/schedule/cron',
          reason: `a cron expression has five fields (min hour day month weekday) or six (seconds first); this one has ${fields.length}`,
        }
      let first: number | undefined
      try {
        first = parseCron(schedule.cron, schedule.tz, now).next().getTime()
      } catch (err) {
        const message = (err as Error).message
        if (/day of month/i.test(message)) return { path: '/schedule/cron', reason: `'${schedule.cron}' never fires (${message})` }
        return { path: '/schedule/cron', reason: `'${schedule.cron}' is not a valid cron expression (${message})` }
      }
      if (first === undefined) return { path: '/schedule/cron', reason: `'${schedule.cron}' never fires` }
      // The smallest gap over the next few ticks (a pattern like `*/1 * * * * *` fires every second).
      const ticks = nextFires(schedule, now, 6)
      if (ticks.length === 0) return { path: '/schedule/cron', reason: `'${schedule.cron}' never fires` }
      for (let i = 1; i < ticks.length; i++) {
        if (ticks[i]! - ticks[i - 1]! < minIntervalMs)
          return { path: '/schedule/cron', reason: `'${schedule.cron}' fires more often than the minimum interval of ${minIntervalMs} ms` }
      }
      return undefined
    }
  }
}
