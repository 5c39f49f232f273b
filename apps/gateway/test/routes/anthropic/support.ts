/** What a call rejects with (fails the test when it resolves). */
export async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

/** The `event:` / `data:` pairs of an SSE body (comments and `retry:` skipped), data parsed as JSON. */
export function sseEvents(body: string): { event: string; data: any }[] {
  return body
    .split('\n\n')
    .map((block) => block.split('\n').filter((line) => line.startsWith('event: ') || line.startsWith('data: ')))
    .filter((lines) => lines.length > 0)
    .map((lines) => ({
      event: lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '',
      data: JSON.parse(
        lines
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n'),
      ),
    }))
}
