/** The token service lives in packages/access; this re-export keeps the gateway's and its tests' imports. */
export {
  BOOTSTRAP_PRINCIPAL_ID,
  constantTimeEqual,
  createTokensService,
  isWellFormedToken,
  MAX_TOKEN_LENGTH,
  MIN_BOOTSTRAP_TOKEN_LENGTH,
  type Principal,
  type RevocationBus,
  TOKEN_PREFIX,
  TOKEN_REVOCATIONS_CHANNEL,
  type TokenRecord,
  type TokensDeps,
  type TokensService,
} from '@openvesper/access'
