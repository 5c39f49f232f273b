import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import type { Config, Role } from '@openvesper/config'

/** Written by scripts/pgdata-template.mjs at build time: an initialised, migrated PGlite data folder. */
const PGDATA_TEMPLATE = fileURLToPath(new URL('./pgdata-template', import.meta.url))

// Start-up allocates much that survives a little while (modules, compiled schemas): V8 would grow its young generation
// to the maximum (2 × 16 MB) and keep it while idle (~30 MB RSS). It keeps its initial size until the process serves,
// then grows under load as by default (factor 2). Set before the modules below load, hence their dynamic imports.
setFlagsFromString('--semi-space-growth-factor=1')
const [
  { ConfigError, loadConfig, redactConfig, ROLES },
  { compilePgliteWasm, seedDataDir },
  { default: closeWithGrace },
  { pino },
  { buildApp },
  { createLogger },
  { createRuntime },
] = await Promise.all([
  import('@openvesper/config'),
  import('@openvesper/db'),
  import('close-with-grace'),
  import('pino'),
  import('./app.js'),
  import('./http/logger.js'),
  import('./runtime.js'),
])

/** Process entry: config → runtime → start(role) → listen → close-with-grace. The only reader of process.env. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { role: { type: 'string' } }, strict: false })
  const env = { ...process.env }
  if (typeof values.role === 'string') env.OPENVESPER_ROLE = values.role
  let config: Config
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
  const embedded = !config.database.url
  if (embedded && (await seedDataDir(config.database.dataDir, PGDATA_TEMPLATE)))
    log.info({ dataDir: config.database.dataDir }, 'embedded database created from the build template')

  const runtime = await createRuntime(config, log, {
    ...(embedded ? { pgliteWasm: await compilePgliteWasm() } : {}),
    onGeneratedToken: (token) => {
      // Printed once, to the terminal only (never to the log stream): only its hash is stored.
      process.stdout.write(`\nNo OPENVESPER_TOKEN was set, so an admin token was generated. It is shown only this once:\n\n  ${token}\n\n`)
    },
  })
  // The HTTP app is built and made ready (schemas compiled) while the runtime connects: neither needs the other before listen().
  const readyApp = async () => {
    const app = await buildApp({ config, services: runtime.services, log })
    await app.ready()
    return app
  }
  const [, app] = await Promise.all([runtime.start(role), role === 'worker' ? undefined : readyApp()])
  if (app) {
    const address = await app.listen({ host: config.server.host, port: config.server.port })
    log.info({ address, role, mode: runtime.info.mode }, 'OpenVesper gateway listening')
  } else {
    log.info({ role, workerId: runtime.info.workerId }, 'OpenVesper worker started')
  }
  setFlagsFromString('--semi-space-growth-factor=2')

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
