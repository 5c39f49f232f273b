export { createAuditService, type AuditService } from './audit.service.js'
export type { AuditFilter } from './audit.repo.js'
