/**
 * Sets `key` in a map used as a bounded cache: the entry becomes the newest, and the oldest entries (Map iteration
 * is insertion order) are dropped beyond `max`.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  for (const oldest of map.keys()) {
    if (map.size <= max) break
    map.delete(oldest)
  }
}
