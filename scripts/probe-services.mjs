// Exits 0 when Postgres and Redis both answer, else prints which one did not and exits 1.
import net from 'node:net'

const check = (label, url, defaultPort) =>
  new Promise((resolve) => {
    const u = new URL(url)
    const socket = net.connect({ host: u.hostname, port: Number(u.port || defaultPort) })
    const done = (ok, why) => {
      socket.destroy()
      if (!ok) console.error(`${label} unreachable at ${u.hostname}:${u.port || defaultPort}: ${why}`)
      resolve(ok)
    }
    socket.setTimeout(3000, () => done(false, 'timeout'))
    socket.on('error', (e) => done(false, e.message))
    if (label === 'redis') {
      socket.on('connect', () => socket.write('PING\r\n'))
      socket.on('data', (d) => done(d.toString().startsWith('+PONG'), `unexpected reply ${d.toString().trim()}`))
    } else {
      socket.on('connect', () => done(true))
    }
  })

const [pg, redis] = process.argv.slice(2)
const ok = (await check('postgres', pg, 5432)) & (await check('redis', redis, 6379))
process.exit(ok ? 0 : 1)
