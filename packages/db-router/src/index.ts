export { createDbRouter } from './router';
export type {
  DbRouter,
  DbRouterHealth,
  DbRouterStats,
  ReadOptions,
  ReplicaHealth,
  WriterHealth,
} from './router';
export { compareLsn, currentLsn, formatLsn, isLsn, maxLsn, parseLsn } from './lsn';
export {
  isConnectionError,
  isRecoveryConflict,
  ReplicaNotInRecoveryError,
  ReplicaRestartedError,
} from './errors';
export { ROUTING_DECISIONS } from './options';
export type {
  BackoffOptions,
  ConnectionInput,
  DbRouterLogger,
  DbRouterOptions,
  DecisionEvent,
  LsnCheckMode,
  PoolOptions,
  ReplicaStateEvent,
  ReplicaStatus,
  RoutingDecision,
} from './options';
