/**
 * Thrown (as the connection-creation error of a replica pool) when a new connection shows that the replica
 * restarted or went backwards since it was last polled: the routing decision that asked for this connection was
 * made on a replay position the server no longer has, so the read must not run there. {@link DbRouter.read}
 * treats it like a connection error and retries on the writer.
 */
export class ReplicaRestartedError extends Error {
  override readonly name = 'ReplicaRestartedError';
  constructor(
    readonly replica: string,
    detail: string,
  ) {
    super(`db-router: replica ${replica} ${detail}`);
  }
}

/** Thrown by a replica pool when the server is not (or no longer) a hot standby, e.g. after a promotion. */
export class ReplicaNotInRecoveryError extends Error {
  override readonly name = 'ReplicaNotInRecoveryError';
  constructor(readonly replica: string) {
    super(
      `db-router: ${replica} is not in recovery (promoted or misconfigured), it cannot serve routed reads`,
    );
  }
}

const NODE_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs meaning "this server cannot serve us now" rather than "this query is wrong": connection exceptions
 * (class 08), shutdown/startup (57P01..57P04), too many connections, and a database or login that does not exist
 * there (yet), e.g. a database created on the primary that the replica has not replayed.
 */
const SERVER_UNAVAILABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '53300',
  '3D000',
  '28000',
  '28P01',
]);

const CONNECTION_MESSAGES = [
  'connection terminated',
  'connection ended unexpectedly',
  'not queryable',
  'timeout acquiring a connection',
  'connection timeout',
  'server closed the connection',
  'socket hang up',
];

function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let cur: unknown = err;
  while (cur !== null && cur !== undefined && chain.length < 5 && !chain.includes(cur)) {
    chain.push(cur);
    if (cur instanceof AggregateError) chain.push(...(cur.errors as unknown[]).slice(0, 5));
    cur = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/**
 * True when `err` says the server or the connection to it is unusable (refused, reset, timed out, terminated,
 * shutting down, pool acquire timeout, replica restarted or promoted) rather than that the query itself failed.
 * Such an error on a replica is worth retrying once on the writer.
 */
export function isConnectionError(err: unknown): boolean {
  return errorChain(err).some((e) => {
    if (e instanceof ReplicaRestartedError || e instanceof ReplicaNotInRecoveryError) return true;
    if (typeof e !== 'object' || e === null) return false;
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (
        NODE_CONNECTION_CODES.has(code) ||
        SERVER_UNAVAILABLE_SQLSTATES.has(code) ||
        code.startsWith('08')
      ) {
        return true;
      }
    }
    if (name === 'KnexTimeoutError') return true;
    if (typeof message === 'string') {
      const m = message.toLowerCase();
      return CONNECTION_MESSAGES.some((s) => m.includes(s));
    }
    return false;
  });
}

/**
 * True when `err` is a hot-standby recovery conflict ("canceling statement due to conflict with recovery",
 * SQLSTATE 40001 or 40P01 on a standby): the query was fine, the replica cancelled it to apply WAL. Retry on the
 * writer; the replica itself stays healthy.
 */
export function isRecoveryConflict(err: unknown): boolean {
  return errorChain(err).some((e) => {
    if (typeof e !== 'object' || e === null) return false;
    const code = (e as { code?: unknown }).code;
    return code === '40001' || code === '40P01';
  });
}

/** A short, credential-free description of an error for logs and health output. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const msg = err.message.length > 200 ? `${err.message.slice(0, 200)}…` : err.message;
    return typeof code === 'string' ? `${code}: ${msg}` : msg;
  }
  return String(err).slice(0, 200);
}
