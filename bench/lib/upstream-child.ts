/**
 * The scripted LLM upstream (`startFakeUpstream()` from @openvesper/testing) in its own process, so the load
 * generator in the bench process and the upstream do not share an event loop. Controlled over IPC.
 */
import { type RecordedRequest, type ScriptedReplySpec, startFakeUpstream } from '@openvesper/testing'

type Command =
  /** `byMarker`: the reply for a request whose last message contains the marker (first match); else `reply`. */
  | { id: number; type: 'setDefault'; reply: ScriptedReplySpec; byMarker?: Record<string, ScriptedReplySpec> }
  | { id: number; type: 'count' }
  | { id: number; type: 'lastRequest' }
  | { id: number; type: 'close' }

const upstream = await startFakeUpstream()
let served = 0
let last: unknown
// The fake records every request; a bench sends hundreds of thousands, so drop the records as it goes.
const trim = setInterval(() => {
  served += upstream.requests.length
  if (upstream.requests.length) last = upstream.requests.at(-1)
  upstream.requests.length = 0
}, 500)
trim.unref()

process.on('message', (raw) => {
  const cmd = raw as Command
  if (cmd.type === 'setDefault') {
    const { reply, byMarker } = cmd
    upstream.setDefault(byMarker ? (req) => pick(req, byMarker) ?? reply : reply)
    process.send?.({ id: cmd.id, ok: true })
  } else if (cmd.type === 'count') {
    process.send?.({ id: cmd.id, ok: true, value: served + upstream.requests.length })
  } else if (cmd.type === 'lastRequest') {
    const r = upstream.requests.at(-1) ?? (last as (typeof upstream.requests)[number] | undefined)
    process.send?.({ id: cmd.id, ok: true, value: r ? { path: r.path, body: r.body, headers: r.headers } : undefined })
  } else if (cmd.type === 'close') {
    clearInterval(trim)
    void upstream.close().then(() => {
      process.send?.({ id: cmd.id, ok: true })
      process.disconnect?.()
    })
  }
})
function pick(req: RecordedRequest, byMarker: Record<string, ScriptedReplySpec>): ScriptedReplySpec | undefined {
  const messages = (req.body as { messages?: { content?: unknown }[] }).messages ?? []
  const last = String(messages.at(-1)?.content ?? '')
  for (const [marker, reply] of Object.entries(byMarker)) if (last.includes(marker)) return reply
  return undefined
}

process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready', url: upstream.url })
