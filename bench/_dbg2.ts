import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createBenchDatabase, REDIS_URL, benchRedisPrefix } from './lib/infra.js'
import { forkIpc, spawnGateway, ROOT, cpuMs } from './lib/procs.js'

const up = await forkIpc(join(ROOT, 'bench/lib/upstream-child.ts'))
const db = await createBenchDatabase('dbg')
const redis = benchRedisPrefix()
const token = `ovk_bench_${randomBytes(18).toString('base64url')}`
const env = { OPENVESPER_TOKEN: token, OPENVESPER_LOG_LEVEL: process.env.LL ?? 'info', OPENVESPER_CONFIG: '/nonexistent', OPENVESPER_MODEL: 'openai/m', OPENAI_BASE_URL: `${up.ready.url}/v1`, OPENAI_API_KEY: 'k', DATABASE_URL: db.url, REDIS_URL, OPENVESPER_REDIS_PREFIX: redis.prefix }
const gw = await spawnGateway({ role: 'api', env, logFile: '/tmp/ovdbg/gw2.log' })
const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
const stats = async () => {
  const [d] = await db.sql`select xact_commit::int, xact_rollback::int, sessions::int, tup_returned::bigint::float8 as tup_returned, tup_fetched::int, tup_inserted::int, tup_updated::int, blks_hit::bigint::float8 as blks_hit from pg_stat_database where datname = current_database()`
  const t = await db.sql`select relname, seq_scan::int, seq_tup_read::int, idx_scan::int from pg_stat_user_tables order by relname`
  return { d, t: Object.fromEntries(t.map((r: any) => [r.relname, r])) }
}
try {
  const N = Number(process.env.N ?? 50)
  const req = (i: number) => fetch(`${gw.url}${process.env.P ?? '/agent'}`, { method: 'POST', headers: h, body: JSON.stringify({ message: 'hi', ...(process.env.NOSESSION ? {} : { sessionKey: 'k' + (i >> 3) }) }) }).then((r) => r.text())
  for (let i = 0; i < 20; i++) await req(1000 + i)
  await new Promise((r) => setTimeout(r, 1000))
  const a = await stats()
  const c0 = cpuMs(gw.pid)
  for (let i = 0; i < N; i++) await req(i)
  const c1 = cpuMs(gw.pid)
  await new Promise((r) => setTimeout(r, 1000))
  const b = await stats()
  const per = (x: number, y: number) => ((y - x) / N).toFixed(2)
  console.log('gateway cpu ms/run', ((c1 - c0) / N).toFixed(2))
  for (const k of Object.keys(b.d)) console.log('db', k, per(a.d[k], b.d[k]))
  for (const [rel, r] of Object.entries<any>(b.t)) console.log(rel, 'seq_scan', per(a.t[rel]?.seq_scan ?? 0, r.seq_scan), 'seq_tup_read', per(a.t[rel]?.seq_tup_read ?? 0, r.seq_tup_read), 'idx_scan', per(a.t[rel]?.idx_scan ?? 0, r.idx_scan))
} finally {
  await gw.stop(); await up.stop(); await db.drop(); await redis.cleanup()
}
