import { countTokens } from 'gpt-tokenizer/encoding/o200k_base'

/**
 * Token accounting for sessions. Providers' reported usage is the truth; where none is reported (the offline echo
 * model, a provider that omits usage) the count is estimated with the o200k tokenizer (gpt-tokenizer: maintained,
 * pure JS, no native build), and marked as an estimate. Pure.
 */

/** Built-in context windows (tokens), by model name prefix; the agent config's `contextWindow` overrides them. */
const CONTEXT_WINDOWS: readonly [prefix: string, tokens: number][] = [
  ['gpt-4.1', 1_047_576],
  ['gpt-5', 400_000],
  ['gpt-4o', 128_000],
  ['o1', 200_000],
  ['o3', 200_000],
  ['o4', 200_000],
  ['gpt-4-turbo', 128_000],
  ['gpt-3.5-turbo', 16_385],
  ['claude-', 200_000],
]
/** A model we know nothing about: a window every current model has. */
export const UNKNOWN_MODEL_WINDOW = 32_000
/** Share of the window a turn's prompt may use; the rest is left for the answer. */
export const PROMPT_SHARE = 0.8
/** At most this many of the newest transcript messages are loaded for a turn, whatever their size. */
export const CONTEXT_MESSAGES_MAX = 400

/** The context window of `provider/model` (or `echo`): the override, else the built-in table, else the unknown-model window. */
export function contextWindowOf(model: string, override?: number): { tokens: number; known: boolean } {
  if (override !== undefined) return { tokens: override, known: true }
  const name = model.includes('/') ? model.slice(model.indexOf('/') + 1) : model
  const hit = CONTEXT_WINDOWS.find(([prefix]) => name.startsWith(prefix))
  return hit ? { tokens: hit[1], known: true } : { tokens: UNKNOWN_MODEL_WINDOW, known: false }
}

/** Per-message framing the chat formats add (role, separators): OpenAI's documented 3–4 tokens. */
const MESSAGE_OVERHEAD = 4

/** Estimated tokens of one message of `text`. */
export const estimateMessageTokens = (text: string): number => countTokens(text) + MESSAGE_OVERHEAD

/** The newest whole messages that fit `budget` tokens (in their order), how many older ones were left out, and their tokens. */
export function fitToBudget<T extends { text: string }>(messages: readonly T[], budget: number): { kept: T[]; omitted: number; tokens: number } {
  let tokens = 0
  let start = messages.length
  while (start > 0) {
    const cost = estimateMessageTokens(messages[start - 1]!.text)
    if (tokens + cost > budget) break
    tokens += cost
    start--
  }
  return { kept: messages.slice(start), omitted: start, tokens }
}
