import type { OpenVesperClient } from '@openvesper/client'
import { SESSION_KEY_RULE } from '@openvesper/sessions'
import { waitFor } from '@openvesper/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type SessionsFixture, startSessionsFixture } from './fixture.js'

const path = (key: string) => ({ params: { path: { key } } })

/** Keys with every class of odd character the rule allows; each in a body (POST /agent) and in a URL (percent-encoded). */
const ODD_KEYS = [
  'with spaces',
  ' padded ',
  'a/b',
  '../up',
  '%2F literally',
  '?query#fragment&x=1+2',
  'ключ',
  '键',
  'emoji 🙂🎉',
  'family 👨‍👩‍👧',
  'rtl \u202eevil',
  'Key',
  'key',
  'x'.repeat(256),
  '🙂'.repeat(256),
]

/** The session key rule, applied identically at write and lookup, in bodies and in URLs. */
describe('session keys', () => {
  let f: SessionsFixture
  let c: OpenVesperClient
  let token: string

  beforeAll(async () => {
    f = await startSessionsFixture('embedded')
    token = await f.t.tokenWith(['sessions:read', 'sessions:write', 'runs:read', 'runs:write'])
    c = f.client(token)
  })
  afterAll(async () => {
    await f?.close()
  })

  it('accepts keys with spaces, slashes, URL syntax, unicode, emoji and 256 characters, in bodies and percent-encoded URLs', async () => {
    for (const key of ODD_KEYS) {
      const run = await c.POST('/agent', { body: { message: `in ${key.slice(0, 20)}`, sessionKey: key } })
      expect(run.response.status, key.slice(0, 30)).toBe(200)
      expect(run.data!.sessionKey).toBe(key)
    }
    for (const key of ODD_KEYS) {
      const got = await c.GET('/sessions/{key}', path(key))
      expect(got.response.status, key.slice(0, 30)).toBe(200)
      expect(got.data).toMatchObject({ key, messageCount: 2 })
      expect((await c.GET('/sessions/{key}/messages', path(key))).data!.items).toHaveLength(2)
    }
    // Case counts: 'Key' and 'key' are two sessions.
    const listed = (await c.GET('/sessions', { params: { query: { limit: 200 } } })).data!.items.map((s) => s.key)
    expect(new Set(listed)).toEqual(new Set(ODD_KEYS))
    // A percent-encoded slash is part of the key, not a path separator (the raw URL, not the client's encoding).
    const raw = await fetch(`${f.base}/sessions/a%2Fb/messages`, { headers: { authorization: `Bearer ${token}` } })
    expect(raw.status).toBe(200)
    expect(((await raw.json()) as { items: unknown[] }).items).toHaveLength(2)
    const unencoded = await fetch(`${f.base}/sessions/a/b/messages`, { headers: { authorization: `Bearer ${token}` } })
    expect(unencoded.status).toBe(404)
  })

  it('treats NFC and NFD spellings as one key, stored in NFC, at write and lookup alike', async () => {
    const nfc = 'Caf\u00e9 \ud55c'
    const nfd = nfc.normalize('NFD')
    expect(nfd).not.toBe(nfc)
    const first = await c.POST('/agent', { body: { message: 'first', sessionKey: nfd } })
    expect(first.data!.sessionKey).toBe(nfc)
    await c.POST('/agent', { body: { message: 'second', sessionKey: nfc } })
    expect(f.up.requests.at(-1)!.body.messages.map((m: { content: string }) => m.content)).toEqual(['first', 'first', 'second'])
    for (const spelling of [nfc, nfd]) {
      const got = await c.GET('/sessions/{key}', path(spelling))
      expect(got.data).toMatchObject({ key: nfc, messageCount: 4 })
    }
    const forked = await c.POST('/sessions/{key}/fork', { ...path(nfd), body: { key: `${nfd} copy` } })
    expect(forked.data!.key).toBe(`${nfc} copy`)
    expect((await c.POST('/sessions/{key}/fork', { ...path(nfc), body: { key: `${nfc} copy` } })).response.status).toBe(409)
    expect((await c.DELETE('/sessions/{key}', path(`${nfd} copy`))).response.status).toBe(204)
    expect((await c.GET('/sessions/{key}', path(`${nfc} copy`))).response.status).toBe(404)
  })

  it('applies the same rule to agent.run over the WebSocket', async () => {
    const socket = new WebSocket(`${f.base.replace('http', 'ws')}/ws`, { headers: { authorization: `Bearer ${token}` } })
    const replies: { id?: number; result?: { runId: string }; error?: { message: string; data?: { code?: string } } }[] = []
    socket.on('message', (d) => replies.push(JSON.parse(d.toString())))
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
    const call = async (id: number, params: unknown) => {
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'agent.run', params }))
      return waitFor(() => replies.find((m) => m.id === id), { what: `reply ${id}` })
    }
    try {
      const nfc = 'wébsocket'
      const ok = await call(1, { message: 'over ws', sessionKey: nfc.normalize('NFD') })
      const runId = ok.result!.runId
      await waitFor(async () => (await c.GET('/agent/run/{runId}', { params: { path: { runId } } })).data?.status === 'completed', { what: 'the ws run' })
      expect((await c.GET('/agent/run/{runId}', { params: { path: { runId } } })).data!.sessionKey).toBe(nfc)
      expect((await c.GET('/sessions/{key}', path(nfc))).data!.messageCount).toBe(2)
      const refused = await call(2, { message: 'never', sessionKey: 'bell\u0007' })
      expect(refused.error?.data?.code).toBe('invalid_request')
      expect(refused.error?.message).toContain(SESSION_KEY_RULE)
    } finally {
      socket.close()
    }
  })

  it('refuses control characters, 257 characters, the dot segments and unpaired surrogates with a 400 naming the rule, writing nothing', async () => {
    const before = (await c.GET('/sessions', { params: { query: { limit: 200 } } })).data
    const requestsBefore = f.up.requests.length
    const refused = [
      'a\u0000b',
      'bell\u0007',
      'tab\t',
      'new\nline',
      'del\u007f',
      'c1\u0085',
      'sep\u2028',
      'x'.repeat(257),
      '🙂'.repeat(257),
      '.',
      '..',
      '',
      'lone \ud800',
    ]
    for (const key of refused) {
      for (const route of ['/agent', '/agent/async', '/agent/stream'] as const) {
        const res = await c.POST(route, { body: { message: 'never', sessionKey: key } })
        expect(res.response.status, `${route} ${JSON.stringify(key.slice(0, 12))}`).toBe(400)
        expect(res.error).toMatchObject({ code: 'invalid_request', status: 400 })
        expect((res.error as { detail: string }).detail).toContain(SESSION_KEY_RULE)
        expect((res.error as { errors: { path: string }[] }).errors[0]!.path).toBe('body.sessionKey')
      }
    }
    // In URLs: the same rule, the same answer.
    for (const key of ['a\u0000b', 'bell\u0007', 'new\nline', 'c1\u0085', 'sep\u2028', 'x'.repeat(257)]) {
      const res = await c.GET('/sessions/{key}', path(key))
      expect(res.response.status, JSON.stringify(key.slice(0, 12))).toBe(400)
      expect((res.error as { detail: string }).detail).toContain(SESSION_KEY_RULE)
    }
    expect(f.up.requests.length).toBe(requestsBefore)
    expect((await c.GET('/sessions', { params: { query: { limit: 200 } } })).data).toEqual(before)
  })
})
