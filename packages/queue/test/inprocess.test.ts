import { describe, expect, it } from 'vitest'
import { createInProcessEventBus } from '../src/events.js'
import { createInProcessQueue } from '../src/inprocess.js'
import { defineEventBusContractTests, defineJobQueueContractTests } from './contract.js'

defineJobQueueContractTests('in-process', ({ log }) => createInProcessQueue({ log }))
defineEventBusContractTests('in-process', ({ log }) => createInProcessEventBus({ log }))

describe('in-process queue', () => {
  it('reports its kind and drops nothing silently: close() logs jobs that never ran', async () => {
    const entries: string[] = []
    const log = { debug() {}, info() {}, warn: (_o: object | string, msg?: string) => void entries.push(msg ?? ''), error() {}, child: () => log }
    const queue = createInProcessQueue({ log })
    expect(queue.kind).toBe('inprocess')
    await queue.start()
    await queue.enqueue('never.run', {}, { jobId: 'never' })
    await queue.close()
    expect(entries.some((m) => m.includes('closed with jobs still waiting'))).toBe(true)
    await expect(queue.enqueue('never.run', {}, { jobId: 'late' })).rejects.toThrow(/after close/)
  })
})
