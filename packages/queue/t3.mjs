import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
const prefix = 'ovtprobe' + Date.now()
const conn = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
await conn.connect()
const q = new Queue('qq', { connection: conn, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 } })
await q.waitUntilReady()
let n = 0
const w = new Worker('qq', async (job) => { n++; console.log(job.id, job.repeatJobKey, job.opts.prevMillis, job.timestamp, job.opts.delay, job.opts.timestamp, Date.now()) }, { connection: new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: null }), prefix, autorun: false })
await w.waitUntilReady(); w.run()
await q.upsertJobScheduler('ticker', { every: 150 }, { name: 'tick', data: { k: 1 } })
await q.upsertJobScheduler('ticker', { every: 150 }, { name: 'tick', data: { k: 1 } })
while (n < 5) await new Promise(r => setTimeout(r, 20))
await w.close()
await q.close(); conn.disconnect()
const r = new Redis()
for (const k of await r.keys(prefix + '*')) await r.del(k)
r.disconnect()
