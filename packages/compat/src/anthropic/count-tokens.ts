import { countTokens } from 'gpt-tokenizer/encoding/o200k_base'
import type { NeutralRequest } from '../neutral.js'

/** Special-token text (`<|endoftext|>`) in a prompt is counted as ordinary text, never refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() }

/** Tokens a message costs besides its text (role and turn markers), as OpenAI's chat format counts them. */
const PER_MESSAGE = 3
/** The assistant turn the answer is primed with. */
const PRIMING = 3

const count = (text: string) => (text === '' ? 0 : countTokens(text, AS_TEXT))

/**
 * The input tokens of a request, counted with the o200k_base BPE (`gpt-tokenizer`): exact for the text of current
 * OpenAI models, an estimate for Claude (whose tokenizer is not published). System prompt, every message's text,
 * tool calls and results, and the tool definitions (name, description, JSON schema) are counted.
 */
export function countInputTokens(request: Pick<NeutralRequest, 'messages' | 'tools'>): number {
  let total = PRIMING
  for (const message of request.messages) {
    total += PER_MESSAGE + count(message.content)
    if (message.role === 'assistant') for (const call of message.toolCalls ?? []) total += count(call.name) + count(call.arguments)
    if (message.role === 'tool') total += count(message.name)
  }
  for (const tool of request.tools ?? []) total += PER_MESSAGE + count(tool.name) + count(tool.description) + count(JSON.stringify(tool.parameters))
  return total
}
