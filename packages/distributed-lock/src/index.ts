export { lockKey, parseLockKey, type ParsedLockKey } from './lock-key';
export { LeaseLostError, LockNotAcquiredError, StaleLeaseError } from './errors';
export {
  FENCING_TABLE,
  assertFenced,
  createFencingTable,
  fencedUpdate,
  type CreateFencingTableOptions,
  type FencedUpdateOptions,
} from './fencing';
export {
  createLockManager,
  type AcquireOptions,
  type Lease,
  type LockEvent,
  type LockLogger,
  type LockManager,
  type LockManagerOptions,
  type LockMetrics,
} from './lock-manager';
