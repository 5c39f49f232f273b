/**
 * Re-embeds memory after a change of embedding model or dimension: marks every entry not embedded with the configured
 * model and dimension as pending, then embeds them in batches. Reads the same environment as the gateway:
 *   OPENVESPER_EMBEDDINGS_MODEL=… OPENVESPER_EMBEDDINGS_DIMENSION=… pnpm memory:reembed
 */
import { loadConfig } from '@openvesper/config'
import { createLogger } from '../src/http/logger.js'
import { createRuntime } from '../src/runtime.js'

const config = loadConfig(process.env)
const log = createLogger(config.server.logLevel)
const runtime = await createRuntime(config, log)
await runtime.start('worker')
try {
  const marked = await runtime.services.memory.reembed()
  const stored = await runtime.services.memory.embedPending()
  log.info({ marked, stored }, 'memory re-embedded')
} finally {
  await runtime.stop()
}
