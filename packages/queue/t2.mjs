import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
const prefix = 'ovtprobe' + Date.now()
const conn = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
await conn.connect()
const q = new Queue('qq', { connection: conn, prefix })
await q.waitUntilReady()
const withWorker = process.argv[2] === 'w'
let w
if (withWorker) { w = new Worker('qq', async (job) => console.log('got', job.id), { connection: new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: null }), prefix, autorun: false }); await w.waitUntilReady(); w.run() }
try { await q.add('x', { v: 1 }, { jobId: 'delayed', delay: 200, removeOnComplete: true, removeOnFail: true, attempts: 1 }); console.log('added') } catch (e) { console.log('ERR', e.message) }
const r = new Redis()
for (const k of await r.keys(prefix + '*')) console.log(k, await r.type(k))
await new Promise(r => setTimeout(r, 500))
if (w) await w.close()
await q.close(); conn.disconnect()
for (const k of await r.keys(prefix + '*')) await r.del(k)
r.disconnect()
