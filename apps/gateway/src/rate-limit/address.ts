import { isIP } from 'node:net'

/**
 * An address in one canonical form, so one client is one bucket however its address is written: IPv4 as is,
 * IPv6 compressed and lowercase, IPv4-mapped IPv6 (`::ffff:192.0.2.1`, `::ffff:c000:201`) as the IPv4 address.
 * Undefined when `raw` is not an IP address.
 */
export function normalizeAddress(raw: string): string | undefined {
  const address = raw.trim()
  const family = isIP(address)
  if (family === 4) return address
  if (family !== 6) return undefined
  let host: string
  try {
    host = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  } catch {
    return address.toLowerCase() // a zone id (fe80::1%eth0), which URL does not accept
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (!mapped) return host
  const high = Number.parseInt(mapped[1]!, 16)
  const low = Number.parseInt(mapped[2]!, 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}
