export { normalizeAddress } from './address.js'
export { AUTH_THROTTLED_CHANNEL, createFailureBook, type FailureBook } from './failure-book.js'
export { createLimiter, type Limiter, type LimitsService, leaseSize } from './limits.js'
