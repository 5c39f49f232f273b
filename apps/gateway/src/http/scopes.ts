/** The scope list and rules live in packages/access; this re-export keeps the gateway's and its tests' imports. */
export { hasScopes, isScope, SCOPE_DESCRIPTIONS, SCOPES, type Scope } from '@openvesper/access'
