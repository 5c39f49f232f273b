import { createParser, type EventSourceMessage } from 'eventsource-parser'

export interface SseEvent {
  id: string | undefined
  event: string | undefined
  data: Record<string, unknown>
}

/**
 * Reads an SSE response with fetch. `stopAfter` returns true to disconnect early (simulating a client that
 * goes away); the promise resolves with the events received and the response headers.
 */
export async function readSse(
  url: string,
  init: RequestInit & { stopAfter?: (events: SseEvent[]) => boolean },
): Promise<{ status: number; headers: Headers; events: SseEvent[] }> {
  const ctrl = new AbortController()
  const res = await fetch(url, { ...init, signal: ctrl.signal })
  const events: SseEvent[] = []
  if (!res.ok || !res.body) return { status: res.status, headers: res.headers, events }
  let stop = false
  const parser = createParser({
    onEvent(m: EventSourceMessage) {
      if (stop) return
      events.push({ id: m.id, event: m.event, data: JSON.parse(m.data) })
      if (init.stopAfter?.(events)) {
        stop = true
        ctrl.abort()
      }
    },
  })
  const decoder = new TextDecoder()
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }))
      if (stop) break
    }
  } catch (err) {
    if (!stop) throw err
  }
  return { status: res.status, headers: res.headers, events }
}
