/**
 * A generated memory corpus for relevance tests: 1,000 filler entries from a seeded generator (neutral words, with
 * some words of the needles sprinkled in as distractors) and 10 needles, each with a full-text query and a misspelt
 * query whose words full-text search cannot match (found only by the vector path).
 */
const FILLER = `river window garden paper yellow music history engine planet coffee morning evening table chair
  mountain ocean forest city street bridge train station market bread cheese apple orange lemon water stone
  silver golden copper blanket pillow lamp clock mirror picture camera phone letter pencil notebook desk office
  meeting project report review update plan idea question answer problem solution message email call visit trip
  holiday weekend summer winter autumn rain snow wind cloud storm sunny quiet loud bright dark early late quick
  slow green blue purple white black red brown small large tiny huge old new young ancient modern simple complex`
  .split(/\s+/)
  .filter(Boolean)
const DISTRACTORS = ['budget', 'birthday', 'flights', 'author', 'school', 'password', 'insurance', 'spring']

export interface Needle {
  text: string
  /** A full-text query: the needle must be in the top 5 with fts and hybrid. */
  fts: string
  /** Misspelt: no lexeme matches the needle; the needle must be in the hybrid top 5. */
  fuzzy: string
}

export const NEEDLES: Needle[] = [
  { text: 'The quarterly budget spreadsheet lives in the finance drive', fts: 'quarterly budget', fuzzy: 'quartrly budgett spreadsheat' },
  { text: "Grandmother's birthday is on the fourteenth of October", fts: 'grandmother birthday', fuzzy: 'grandmoter birthdy octobr' },
  { text: 'Prefers aisle seats on long-haul flights', fts: 'aisle seats flights', fuzzy: 'aislle seatts longhaul' },
  { text: 'Allergic to penicillin and shellfish', fts: 'penicillin', fuzzy: 'penicilin shelfish alergic' },
  { text: 'The wifi password for the cabin is written under the router', fts: 'cabin wifi password', fuzzy: 'cabbin wiffi pasword' },
  { text: 'Team standup moved to half past nine on Tuesdays', fts: 'standup tuesdays', fuzzy: 'standupp tuesdys' },
  { text: 'Favourite author is Ursula Le Guin', fts: 'favourite author ursula', fuzzy: 'favorite autthor ursulla' },
  { text: 'Car insurance renewal is due in February', fts: 'insurance renewal', fuzzy: 'insurence renewel februar' },
  { text: 'Learning to play the cello since spring', fts: 'cello', fuzzy: 'chello lerning' },
  { text: "Daughter's school pickup is at three on Fridays", fts: 'school pickup fridays', fuzzy: 'scool pikcup fridys' },
]

function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KINDS = ['fact', 'preference', 'event', 'note'] as const

/** `n` filler entries, the same on every call. */
export function fillerEntries(n: number, seed = 42): { text: string; kind: (typeof KINDS)[number] }[] {
  const rnd = mulberry32(seed)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: 8 + Math.floor(rnd() * 7) }, () => pick(FILLER))
    if (rnd() < 0.05) words.splice(Math.floor(rnd() * words.length), 0, pick(DISTRACTORS))
    return { text: `${words.join(' ')} ${i}`, kind: KINDS[i % KINDS.length]! }
  })
}
