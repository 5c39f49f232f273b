/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and prints where the time went: top functions by self time,
 * by inclusive time, and self time grouped by package/module.
 *
 *   pnpm exec tsx bench/tools/profile-top.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  hitCount?: number
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileEntry {
  name: string
  where: string
  ms: number
  pct: number
}
export interface ProfileSummary {
  file: string
  totalMs: number
  /** Non-idle time (everything except `(idle)`). */
  busyMs: number
  self: ProfileEntry[]
  inclusive: ProfileEntry[]
  modules: ProfileEntry[]
}

/** `packages/core/src/…` → `@openvesper/core`; `…/node_modules/.pnpm/x@1/node_modules/drizzle-orm/…` → `drizzle-orm`; `node:…` → `node:internal`. */
export function moduleOf(url: string): string {
  if (!url) return '(native/V8)'
  if (url.startsWith('node:')) return 'node:internal'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const ws = /\/(packages|apps)\/([^/]+)\//.exec(url)
  if (ws) return ws[1] === 'apps' ? `app:${ws[2]}` : `@openvesper/${ws[2]}`
  return url.replace(/^file:\/\//, '')
}

function shortWhere(url: string, line: number): string {
  if (!url) return ''
  const m = moduleOf(url)
  return `${m} ${basename(url)}:${line + 1}`
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${shortWhere(n.callFrame.url, n.callFrame.lineNumber)}`
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  const mods = new Map<string, number>()
  let total = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000
    const node = byId.get(p.samples[i]!)
    if (!node) continue
    total += dt
    const fn = node.callFrame.functionName
    if (fn === '(idle)') {
      idle += dt
      continue
    }
    self.set(key(node), (self.get(key(node)) ?? 0) + dt)
    const mod = fn === '(garbage collector)' ? '(garbage collector)' : fn === '(program)' ? '(program)' : moduleOf(node.callFrame.url)
    mods.set(mod, (mods.get(mod) ?? 0) + dt)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const k = key(byId.get(id)!)
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + dt)
    }
  }
  const busy = total - idle
  const list = (m: Map<string, number>, skip?: (k: string) => boolean): ProfileEntry[] =>
    [...m.entries()]
      .filter(([k]) => !skip?.(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, ms]) => {
        const [name, where] = k.split('\u0000')
        return { name: name!, where: where ?? '', ms, pct: (100 * ms) / busy }
      })
  return {
    file,
    totalMs: total,
    busyMs: busy,
    self: list(self),
    inclusive: list(incl, (k) => k.startsWith('(root)')),
    modules: list(mods),
  }
}

export function formatProfile(s: ProfileSummary, top = 25): string {
  const line = (e: ProfileEntry) => `  ${e.pct.toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}  ${e.where}`
  return [
    `${basename(s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (${((100 * s.busyMs) / s.totalMs).toFixed(0)}%)`,
    ' self time by module:',
    ...s.modules.slice(0, 15).map((e) => `  ${e.pct.toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`),
    ' top functions by self time:',
    ...s.self.slice(0, top).map(line),
    ' top functions by inclusive time:',
    ...s.inclusive.slice(0, top).map(line),
  ].join('\n')
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const files = process.argv.slice(2).filter((a) => a.endsWith('.cpuprofile'))
  const i = process.argv.indexOf('--top')
  const top = i > 0 ? Number(process.argv[i + 1]) : 25
  if (!files.length) {
    process.stderr.write('usage: tsx bench/tools/profile-top.ts <file.cpuprofile>... [--top N]\n')
    process.exit(2)
  }
  for (const f of files) process.stdout.write(`${formatProfile(summarizeProfile(f, top), top)}\n\n`)
}
