/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and prints where the busy time went:
 *  - by module, native frames (socket writes, GC excluded) charged to the nearest JavaScript frame's module;
 *  - by the nearest library frame (node's own internals charged to the library that called them);
 *  - top functions by self time, and our own functions (packages/*, apps/*) by inclusive time.
 * `--skip-ms N` ignores the first N ms of the profile (process start: module loading, schema compilation).
 *
 *   pnpm exec tsx bench/tools/profile-top.ts <file.cpuprofile>... [--top 25] [--skip-ms 3000]
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
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
  ms: number
  pct: number
}
export interface ProfileSummary {
  file: string
  skipMs: number
  /** Sampled time after the skipped start. */
  totalMs: number
  /** Non-idle time after the skipped start. */
  busyMs: number
  modules: ProfileEntry[]
  libraries: ProfileEntry[]
  self: ProfileEntry[]
  ownInclusive: ProfileEntry[]
}

/** `…/node_modules/.pnpm/x@1/node_modules/drizzle-orm/…` → `drizzle-orm`; `…/packages/core/…` → `packages/core`; `node:net` → `node:net`. */
export function moduleOf(url: string): string {
  if (!url) return '(native)'
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const ws = /\/(packages|apps)\/([^/]+)\//.exec(url)
  if (ws) return `${ws[1]}/${ws[2]}`
  return url.replace(/^file:\/\//, '')
}

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)'])
const isOwn = (url: string) => /\/(packages|apps)\/[^/]+\/(dist|src)\//.test(url) && !url.includes('/node_modules/')

export function summarizeProfile(file: string, top = 25, skipMs = 0): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const up = (n: ProfileNode | undefined) => (n ? byId.get(parent.get(n.id) ?? -1) : undefined)
  const label = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}  [${moduleOf(n.callFrame.url)} ${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}]`
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v)
  const self = new Map<string, number>()
  const modules = new Map<string, number>()
  const libraries = new Map<string, number>()
  const own = new Map<string, number>()
  let t = 0
  let total = 0
  let busy = 0
  for (let i = 0; i < p.samples.length; i++) {
    t += (p.timeDeltas[i] ?? 0) / 1000
    if (t < skipMs) continue
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000
    const node = byId.get(p.samples[i]!)
    if (!node) continue
    total += dt
    const fn = node.callFrame.functionName
    if (fn === '(idle)') continue
    busy += dt
    if (SPECIAL.has(fn) && !node.callFrame.url) {
      add(self, fn, dt)
      add(modules, fn, dt)
      add(libraries, fn, dt)
      continue
    }
    add(self, node.callFrame.url ? label(node) : `${fn}  [native]`, dt)
    let js: ProfileNode | undefined = node
    while (js && !js.callFrame.url) js = up(js)
    add(modules, js ? moduleOf(js.callFrame.url) : '(native)', dt)
    let lib: ProfileNode | undefined = node
    while (lib && (!lib.callFrame.url || lib.callFrame.url.startsWith('node:'))) lib = up(lib)
    add(libraries, lib ? moduleOf(lib.callFrame.url) : `(node internals: ${fn || 'anonymous'})`, dt)
    const seen = new Set<string>()
    for (let n: ProfileNode | undefined = node; n; n = up(n)) {
      if (!isOwn(n.callFrame.url)) continue
      const k = label(n)
      if (seen.has(k)) continue
      seen.add(k)
      add(own, k, dt)
    }
  }
  const list = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, pct: busy ? (100 * ms) / busy : 0 }))
  return { file, skipMs, totalMs: total, busyMs: busy, modules: list(modules), libraries: list(libraries), self: list(self), ownInclusive: list(own) }
}

export function formatProfile(s: ProfileSummary, top = 25): string {
  const line = (e: ProfileEntry) => `  ${e.pct.toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`
  return [
    `${basename(s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled after skipping ${(s.skipMs / 1000).toFixed(1)} s of start, ${(s.busyMs / 1000).toFixed(1)} s busy (${s.totalMs ? ((100 * s.busyMs) / s.totalMs).toFixed(0) : 0}%)`,
    ' busy time by module (native frames charged to the nearest JS frame):',
    ...s.modules.slice(0, 12).map(line),
    ' busy time by nearest library frame (node internals charged to their caller):',
    ...s.libraries.slice(0, 12).map(line),
    ' top functions by self time:',
    ...s.self.slice(0, top).map(line),
    ' own functions (packages/*, apps/*) by inclusive time (async continuations start a new stack, so this undercounts):',
    ...s.ownInclusive.slice(0, Math.min(top, 15)).map(line),
  ].join('\n')
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const argv = process.argv.slice(2)
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(name)
    return i >= 0 ? Number(argv[i + 1]) : dflt
  }
  const files = argv.filter((a) => a.endsWith('.cpuprofile'))
  if (!files.length) {
    process.stderr.write('usage: tsx bench/tools/profile-top.ts <file.cpuprofile>... [--top N] [--skip-ms N]\n')
    process.exit(2)
  }
  const top = opt('--top', 25)
  for (const f of files) process.stdout.write(`${formatProfile(summarizeProfile(f, top, opt('--skip-ms', 0)), top)}\n\n`)
}
