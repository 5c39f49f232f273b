import { type Static, Type } from 'typebox'
import { type Scope, SCOPES, type TokenRecord } from '@openvesper/access'
import { ref } from '../../http/components.js'
import { idPattern } from '../../http/params.js'

/** A token scope (closed list; `admin` implies every other scope). */
export const ScopeSchema = Type.Unsafe<Scope>({
  $id: 'Scope',
  type: 'string',
  enum: [...SCOPES],
  description: 'A token scope; `admin` implies every other scope.',
})

/** Printable labels: no control characters, no unpaired surrogates (they would not round-trip through Postgres). */
const NoControlChars = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]+$'

const apiTokenProperties = {
  id: Type.String({ description: 'Token id (`tok_…`).' }),
  name: Type.String({ description: 'Operator-chosen label.' }),
  principalId: Type.String({ description: 'The principal the token authenticates as (`prn_…`).' }),
  scopes: Type.Array(Type.String(), { description: 'Scopes bound to the token.' }),
  last4: Type.String({ description: 'Last four characters of the secret, for recognising it.' }),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
}

/** A bearer token as listed: never the secret. */
export const ApiTokenSchema = Type.Object(apiTokenProperties, { $id: 'ApiToken', additionalProperties: false })
export type ApiToken = Static<typeof ApiTokenSchema>

/** A token just created: the only time the secret is returned. */
export const CreatedApiTokenSchema = Type.Object(
  { ...apiTokenProperties, token: Type.String({ description: 'The bearer secret. Shown once; only its SHA-256 is stored.' }) },
  { $id: 'CreatedApiToken', additionalProperties: false },
)

export const ApiTokenListSchema = Type.Object({ items: Type.Array(ref(ApiTokenSchema)) }, { $id: 'ApiTokenList', additionalProperties: false })

export const CreateApiTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: NoControlChars }),
    scopes: Type.Array(ref(ScopeSchema), { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
    principalId: Type.Optional(
      idPattern('principal', { minChars: 5, description: 'Authenticate as an existing principal (token rotation); default: a new principal.' }),
    ),
  },
  { additionalProperties: false },
)

export const TokenParams = Type.Object({ tokenId: idPattern('token') }, { additionalProperties: false })

/** Named components of this feature, registered once by app.ts. */
export const tokenComponents = [ScopeSchema, ApiTokenSchema, CreatedApiTokenSchema, ApiTokenListSchema]

export const toApiToken = (record: TokenRecord): ApiToken => ({
  id: record.id,
  name: record.name,
  principalId: record.principalId,
  scopes: [...record.scopes],
  last4: record.last4,
  createdAt: record.createdAt.toISOString(),
  revokedAt: record.revokedAt ? record.revokedAt.toISOString() : null,
})
