import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, redactConfig, ROLES, type Role } from '@openvesper/config'
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { buildApp } from './app.js'
import { createLogger } from './http/logger.js'
import { createRuntime } from './runtime.js'

/** Process entry: config → runtime → start(role) → listen → close-with-grace. The only reader of process.env. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { role: { type: 'string' } }, strict: false })
  const env = { ...process.env }
  if (typeof values.role === 'string') env.OPENVESPER_ROLE = values.role
  let config
  try {
    config = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const role: Role = config.role
  if (!ROLES.includes(role)) throw new Error(`unknown role ${role}`)
  const log = createLogger(config.server.logLevel)
  log.info({ config: redactConfig(config) }, 'configuration loaded')

  const runtime = createRuntime(config, log, {
    onGeneratedToken: (token) => {
      // Printed once, to the terminal only (never to the log stream): only its hash is stored.
      process.stdout.write(`\nNo OPENVESPER_TOKEN was set, so an admin token was generated. It is shown only this once:\n\n  ${token}\n\n`)
    },
  })
  await runtime.start(role)
  const app = role === 'worker' ? undefined : await buildApp({ config, services: runtime.services, log })
  if (app) {
    const address = await app.listen({ host: config.server.host, port: config.server.port })
    log.info({ address, role, mode: runtime.info.mode }, 'OpenVesper gateway listening')
  } else {
    log.info({ role, workerId: runtime.info.workerId }, 'OpenVesper worker started')
  }

  closeWithGrace({ delay: config.server.shutdownGraceMs + 5000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    // One grace period for the whole shutdown. In-flight requests may finish within it; long-lived ones (SSE
    // streams, waits) never end on their own and would hold close() until the hard timeout (exit 1): cut them
    // once it is over — clients resume from Last-Event-ID on another instance.
    const deadline = Date.now() + config.server.shutdownGraceMs
    if (app) {
      const cut = setTimeout(() => app.server.closeAllConnections(), config.server.shutdownGraceMs)
      await app.close()
      clearTimeout(cut)
    }
    await runtime.stop(Math.max(0, deadline - Date.now()))
  })
}

main().catch((err) => {
  pino().fatal({ err }, 'failed to start')
  process.exit(1)
})
