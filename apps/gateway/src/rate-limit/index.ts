export { normalizeAddress } from './address.js'
export { createFailureBook } from './failure-book.js'
export { createLimiter, type LimitsService, leaseSize } from './limits.js'
