import { setImmediate as nextTick } from 'node:timers/promises'
import type { ChatMessage, ChatRequest, Provider, ProviderEvent } from './types.js'

/**
 * The offline, deterministic model: answers `Echo: <last user message>` word by word (each delta is a
 * word with its following whitespace). Usage is counted in words: input = words of every message,
 * output = words of the reply. It never calls tools.
 */
export function createEchoProvider(): Provider {
  async function* stream(request: ChatRequest): AsyncGenerator<ProviderEvent> {
    const { signal } = request
    signal.throwIfAborted()
    const reply = `Echo: ${lastUserMessage(request.messages)}`
    for (const word of splitWords(reply)) {
      // Yield to the event loop between words so an abort can land mid-stream.
      await nextTick()
      signal.throwIfAborted()
      yield { type: 'text_delta', text: word }
    }
    await nextTick()
    signal.throwIfAborted()
    const inputTokens = request.messages.reduce((sum, message) => sum + countWords(message.content), 0)
    yield { type: 'done', stopReason: 'end_turn', usage: { inputTokens, outputTokens: countWords(reply), estimated: true } }
  }
  return { name: 'echo', stream }
}

function lastUserMessage(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]
    if (message?.role === 'user') return message.content
  }
  return ''
}

/** Words with their following whitespace; the pieces concatenate to `text`. */
export function splitWords(text: string): string[] {
  if (text === '') return []
  return text.split(/(?<=\s)(?=\S)/)
}

export function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length
}
