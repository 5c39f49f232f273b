/**
 * Third-party drivers the bench needs directly (raw BullMQ baseline, admin SQL, Redis cleanup).
 *
 * pnpm does not hoist: bullmq, ioredis and postgres are dependencies of workspace packages, not of the root, so
 * `import 'bullmq'` from bench/ does not resolve. We resolve them the way those packages do, with `createRequire`
 * anchored at the package that depends on them (packages/queue for bullmq + ioredis, packages/db for postgres).
 * That picks exactly the versions the product uses and works with pnpm's symlinked layout; nothing is installed.
 */
import { createRequire } from 'node:module'

const fromQueue = createRequire(new URL('../../packages/queue/package.json', import.meta.url))
const fromDb = createRequire(new URL('../../packages/db/package.json', import.meta.url))

/* eslint-disable @typescript-eslint/no-explicit-any */
export const bullmq: { Queue: any; Worker: any } = fromQueue('bullmq')
export const Redis: any = fromQueue('ioredis').Redis
export const postgres: any = fromDb('postgres')

const fromCore = createRequire(new URL('../../packages/core/package.json', import.meta.url))
/** undici as packages/core uses it (the floor proxy of the pass-through scenario). */
export const undici: { Agent: any; request: any } = fromCore('undici')
