import { createOpenVesperClient, type OpenVesperClient } from '@openvesper/client'
import { SESSION_KEY_RULE } from '@openvesper/sessions'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectNoLeak } from '../../support/http-assertions.js'
import { type SessionsFixture, startSessionsFixture } from './fixture.js'

type Answer = { response: Response; error?: unknown; data?: unknown }
const path = (key: string) => ({ params: { path: { key } } })

/** Every key-addressed session route, called on `key` with a well-formed request. */
const KEYED: Record<string, { scope: 'sessions:read' | 'sessions:write'; call: (c: OpenVesperClient, key: string, messageId: string) => Promise<Answer> }> = {
  'GET /sessions/:key': { scope: 'sessions:read', call: (c, key) => c.GET('/sessions/{key}', path(key)) },
  'GET /sessions/:key/messages': { scope: 'sessions:read', call: (c, key) => c.GET('/sessions/{key}/messages', path(key)) },
  'DELETE /sessions/:key': { scope: 'sessions:write', call: (c, key) => c.DELETE('/sessions/{key}', path(key)) },
  'POST /sessions/:key/reset': { scope: 'sessions:write', call: (c, key) => c.POST('/sessions/{key}/reset', path(key)) },
  'POST /sessions/:key/agent': { scope: 'sessions:write', call: (c, key) => c.POST('/sessions/{key}/agent', { ...path(key), body: { agentId: 'writer' } }) },
  'POST /sessions/:key/fork': { scope: 'sessions:write', call: (c, key) => c.POST('/sessions/{key}/fork', { ...path(key), body: { key: 'fork-target' } }) },
  'POST /sessions/:key/branch': {
    scope: 'sessions:write',
    call: (c, key, messageId) => c.POST('/sessions/{key}/branch', { ...path(key), body: { key: 'branch-target', messageId } }),
  },
}
/** The routes that take no key. */
const UNKEYED: Record<string, { scope: 'sessions:read' | 'sessions:write'; call: (c: OpenVesperClient) => Promise<Answer> }> = {
  'GET /sessions': { scope: 'sessions:read', call: (c) => c.GET('/sessions') },
  'POST /sessions/prune': { scope: 'sessions:write', call: (c) => c.POST('/sessions/prune', { body: { olderThanMs: 1 } }) },
}

/** The client's view of an RFC 9457 problem answer (the support helper's checks, for generated-client answers). */
function expectProblem(res: Answer, status: number, code?: string) {
  expect(res.response.status).toBe(status)
  expect(res.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  const body = res.error as Record<string, unknown>
  expect(body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), ...(code ? { code } : {}) })
  expect(body.type).toBe(`urn:openvesper:problem:${String(body.code)}`)
  expect(body.requestId).toBe(res.response.headers.get('x-request-id'))
  expectNoLeak(JSON.stringify(body))
}

/**
 * Refused requests on every session route — 400, 401, 403, 404 (another principal's session included), 409 — answer
 * in the problem shape and change nothing.
 */
describe('session routes refuse in the problem shape and write nothing', () => {
  let f: SessionsFixture
  let owner: OpenVesperClient
  let messageId: string
  /** Everything the owner's sessions hold, to compare after refused requests. */
  let snapshot: () => Promise<unknown>

  beforeAll(async () => {
    f = await startSessionsFixture('embedded')
    owner = await f.principal()
    for (const key of ['mine', 'taken']) await owner.POST('/agent', { body: { message: `hello ${key}`, sessionKey: key } })
    messageId = (await owner.GET('/sessions/{key}/messages', path('mine'))).data!.items[0]!.id
    snapshot = async () => {
      const list = (await owner.GET('/sessions')).data!
      const transcripts = await Promise.all(list.items.map(async (s) => (await owner.GET('/sessions/{key}/messages', path(s.key))).data))
      return { list, transcripts }
    }
  })
  afterAll(async () => {
    await f?.close()
  })

  it('401 without a token, on every route', async () => {
    const before = await snapshot()
    const anonymous = createOpenVesperClient({ baseUrl: f.base })
    for (const [name, r] of Object.entries(KEYED)) {
      const res = await r.call(anonymous, 'mine', messageId)
      expect(res.response.status, name).toBe(401)
      expectProblem(res, 401, 'unauthorized')
    }
    for (const [name, r] of Object.entries(UNKEYED)) {
      const res = await r.call(anonymous)
      expect(res.response.status, name).toBe(401)
      expectProblem(res, 401, 'unauthorized')
    }
    expect(await snapshot()).toEqual(before)
  })

  it('403 without the route scope (runs scopes do not grant sessions ones; read does not grant write)', async () => {
    const before = await snapshot()
    const runsOnly = f.client(await f.t.tokenWith(['runs:read', 'runs:write']))
    const readOnly = f.client(await f.t.tokenWith(['sessions:read']))
    const writeOnly = f.client(await f.t.tokenWith(['sessions:write']))
    for (const [name, r] of Object.entries(KEYED)) {
      for (const c of [runsOnly, r.scope === 'sessions:read' ? writeOnly : readOnly]) {
        const res = await r.call(c, 'mine', messageId)
        expect(res.response.status, name).toBe(403)
        expectProblem(res, 403, 'forbidden')
      }
    }
    for (const [name, r] of Object.entries(UNKEYED)) {
      const res = await r.call(r.scope === 'sessions:read' ? writeOnly : readOnly)
      expect(res.response.status, name).toBe(403)
      expectProblem(res, 403, 'forbidden')
    }
    expect(await snapshot()).toEqual(before)
  })

  it("404 for another principal's session on every route, exactly as for a missing one; its own key space is separate", async () => {
    const before = await snapshot()
    const other = await f.principal()
    for (const [name, r] of Object.entries(KEYED)) {
      for (const key of ['mine', 'never-created']) {
        const res = await r.call(other, key, messageId)
        expect(res.response.status, `${name} ${key}`).toBe(404)
        expectProblem(res, 404, 'not_found')
      }
    }
    // The listing and pruning see none of the owner's sessions.
    expect((await other.GET('/sessions')).data).toEqual({ items: [], nextCursor: null })
    expect((await other.POST('/sessions/prune', { body: { olderThanMs: 1, dryRun: true } })).data).toEqual({ dryRun: true, count: 0 })
    expect((await other.POST('/sessions/prune', { body: { olderThanMs: 1 } })).data).toEqual({ dryRun: false, count: 0 })
    expect(await snapshot()).toEqual(before)
    expect((await other.GET('/sessions')).data!.items).toEqual([])

    // The same key under the other principal is a second session with its own transcript.
    await other.POST('/agent', { body: { message: 'theirs', sessionKey: 'mine' } })
    expect(f.up.requests.at(-1)!.body.messages.map((m: { content: string }) => m.content)).toEqual(['theirs'])
    expect((await other.GET('/sessions/{key}/messages', path('mine'))).data!.items.map((m) => m.content.text)).toEqual(['theirs', 'theirs'])
    expect(await snapshot()).toEqual(before)
  })

  it('404 for an unknown agent and for a message not in the session', async () => {
    const before = await snapshot()
    expectProblem(await owner.POST('/sessions/{key}/agent', { ...path('mine'), body: { agentId: 'ghost' } }), 404, 'not_found')
    const elsewhere = (await owner.GET('/sessions/{key}/messages', path('taken'))).data!.items[0]!.id
    for (const id of [elsewhere, 'msg_0000000000000000']) {
      expectProblem(await owner.POST('/sessions/{key}/branch', { ...path('mine'), body: { key: 'new-branch', messageId: id } }), 404, 'not_found')
    }
    expect(await snapshot()).toEqual(before)
  })

  it('409 when the fork or branch target exists (the source itself included)', async () => {
    const before = await snapshot()
    for (const target of ['taken', 'mine']) {
      expectProblem(await owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: target } }), 409, 'session_exists')
      expectProblem(await owner.POST('/sessions/{key}/branch', { ...path('mine'), body: { key: target, messageId } }), 409, 'session_exists')
    }
    expect(await snapshot()).toEqual(before)
  })

  it('400 for malformed keys, bodies and queries', async () => {
    const before = await snapshot()
    const badKeys = ['a\u0001b', 'x'.repeat(257), 'line\nbreak']
    for (const [name, r] of Object.entries(KEYED)) {
      for (const key of badKeys) {
        const res = await r.call(owner, key, messageId)
        expectProblem(res, 400, 'invalid_request')
        expect((res.error as { detail: string }).detail, name).toContain(SESSION_KEY_RULE)
        expect((res.error as { errors: { path: string }[] }).errors[0]!.path).toBe('params.key')
      }
    }
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url')
    const bad: [string, () => Promise<Answer>][] = [
      ['list limit 0', () => owner.GET('/sessions', { params: { query: { limit: 0 } } })],
      ['list limit 201', () => owner.GET('/sessions', { params: { query: { limit: 201 } } })],
      ['list foreign cursor', () => owner.GET('/sessions', { params: { query: { cursor: 'bm90LWEtY3Vyc29y' } } })],
      // Forged cursors whose numbers no bigint holds: a 400, not an overflow in SQL.
      ['list huge cursor', () => owner.GET('/sessions', { params: { query: { cursor: b64(`s1:${'9'.repeat(20)}:ses_aaaaaaaaaaaa`) } } })],
      [
        'messages huge cursor',
        () => owner.GET('/sessions/{key}/messages', { params: { path: { key: 'mine' }, query: { cursor: b64(`m1:asc:${'9'.repeat(20)}`) } } }),
      ],
      ['list bad date', () => owner.GET('/sessions', { params: { query: { activeSince: 'yesterday' } } })],
      ['list bad agent', () => owner.GET('/sessions', { params: { query: { agentId: 'Not An Agent' } } })],
      ['list unknown query', () => owner.GET('/sessions', { params: { query: { sort: 'asc' } as never } })],
      ['messages bad order', () => owner.GET('/sessions/{key}/messages', { params: { path: { key: 'mine' }, query: { order: 'sideways' as never } } })],
      ['agent bad id', () => owner.POST('/sessions/{key}/agent', { ...path('mine'), body: { agentId: 'Bad Id' } })],
      ['agent no body', () => owner.POST('/sessions/{key}/agent', { ...path('mine'), body: {} as never })],
      ['fork no key', () => owner.POST('/sessions/{key}/fork', { ...path('mine'), body: {} as never })],
      ['fork bad target', () => owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: 'tab\there' } })],
      ['fork dot target', () => owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: '..' } })],
      ['fork long target', () => owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: 'y'.repeat(257) } })],
      ['fork extra', () => owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: 'fine', extra: 1 } as never })],
      ['branch bad message id', () => owner.POST('/sessions/{key}/branch', { ...path('mine'), body: { key: 'b', messageId: 'nope' } })],
      ['prune no age', () => owner.POST('/sessions/prune', { body: {} as never })],
      ['prune zero age', () => owner.POST('/sessions/prune', { body: { olderThanMs: 0 } })],
      ['prune string dryRun', () => owner.POST('/sessions/prune', { body: { olderThanMs: 1, dryRun: 'yes' as never } })],
    ]
    for (const [name, call] of bad) {
      const res = await call()
      expect(res.response.status, name).toBe(400)
      expectProblem(res, 400, 'invalid_request')
    }
    // A cursor of one order is refused for the other.
    const page = await owner.GET('/sessions/{key}/messages', { params: { path: { key: 'mine' }, query: { limit: 1 } } })
    const cross = await owner.GET('/sessions/{key}/messages', { params: { path: { key: 'mine' }, query: { order: 'desc', cursor: page.data!.nextCursor! } } })
    expectProblem(cross, 400, 'invalid_request')
    // Targets that break the key rule name it.
    const target = await owner.POST('/sessions/{key}/fork', { ...path('mine'), body: { key: 'tab\there' } })
    expect((target.error as { errors: { path: string }[] }).errors[0]!.path).toBe('body.key')
    expect(await snapshot()).toEqual(before)
  })
})
