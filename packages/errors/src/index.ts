/**
 * The closed list of error codes the platform answers with, their HTTP statuses and the
 * RFC 9457 problem+json body the public API contract requires.
 */

/** Every error code. The `type` slug of a problem is the code in kebab-case. */
export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'APPROVAL_LIMIT_EXCEEDED',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'INSUFFICIENT_STOCK',
  'PERIOD_CLOSED',
  'IDEMPOTENCY_KEY_IN_PROGRESS',
  'UNBALANCED_ENTRY',
  'IDEMPOTENCY_KEY_REUSED',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status and human title of each code. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, { status: number; title: string }>> = {
  VALIDATION_ERROR: { status: 400, title: 'Validation failed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  APPROVAL_LIMIT_EXCEEDED: { status: 403, title: 'Approval limit exceeded' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  INSUFFICIENT_STOCK: { status: 409, title: 'Insufficient stock' },
  PERIOD_CLOSED: { status: 409, title: 'Period closed' },
  IDEMPOTENCY_KEY_IN_PROGRESS: { status: 409, title: 'Idempotency key in progress' },
  UNBALANCED_ENTRY: { status: 422, title: 'Unbalanced entry' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  INTERNAL: { status: 500, title: 'Internal server error' },
};

/** One field-level validation failure. `path` is a dotted path such as `lines.0.quantity`. */
export interface FieldError {
  path: string;
  message: string;
}

/** RFC 9457 body as the contract defines it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  request_id: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

/** The problem `type` slug of a code: `INSUFFICIENT_STOCK` → `insufficient-stock`. */
export function toTypeSlug(code: ErrorCode): string {
  return code.toLowerCase().replaceAll('_', '-');
}

/** Reverse of {@link toTypeSlug}; `undefined` for a slug that is not ours. */
export function fromTypeSlug(slug: string): ErrorCode | undefined {
  const code = slug.toUpperCase().replaceAll('-', '_');
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : undefined;
}

export interface AppErrorOptions {
  /** Field errors, for VALIDATION_ERROR. */
  errors?: FieldError[];
  /** Extra members of the problem body (e.g. `retry_after`). Must not contain internals. */
  extra?: Record<string, unknown>;
  /** Response headers to set (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** The underlying cause; logged, never sent to the client. */
  cause?: unknown;
}

/** The one typed error domain code throws. Its `detail` is safe to show to API clients. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail?: string, options: AppErrorOptions = {}) {
    super(
      detail ?? ERROR_TABLE[code].title,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.errors = options.errors;
    this.extra = options.extra;
    this.headers = options.headers;
  }

  /** The problem+json body for this error. */
  toProblem(requestId: string): Problem {
    const problem: Problem = {
      ...(this.extra ?? {}),
      type: toTypeSlug(this.code),
      title: ERROR_TABLE[this.code].title,
      status: this.status,
      detail: this.message,
      request_id: requestId,
    };
    if (this.errors) problem.errors = this.errors;
    return problem;
  }
}

/** Type guard that also works across package copies (checks the shape, not the prototype). */
export function isAppError(value: unknown): value is AppError {
  return (
    value instanceof AppError ||
    (value instanceof Error &&
      (value as { name?: unknown }).name === 'AppError' &&
      typeof (value as { code?: unknown }).code === 'string')
  );
}

/** Shorthands for the common cases. */
export const errors = {
  validation: (errs: FieldError[], detail = 'The request is invalid.') =>
    new AppError('VALIDATION_ERROR', detail, { errors: errs }),
  unauthenticated: (detail = 'A valid access token is required.') => new AppError('UNAUTHENTICATED', detail),
  forbidden: (detail = 'You are not allowed to do this.') => new AppError('FORBIDDEN', detail),
  notFound: (what = 'resource') => new AppError('NOT_FOUND', `No such ${what}.`),
  conflict: (detail: string) => new AppError('CONFLICT', detail),
  unavailable: (detail = 'A dependency is unavailable; retry later.', cause?: unknown) =>
    new AppError('UNAVAILABLE', detail, { cause }),
};

/** Problem body for an unexpected error: generic, never reveals internals. */
export function internalProblem(requestId: string): Problem {
  return {
    type: 'internal',
    title: ERROR_TABLE.INTERNAL.title,
    status: 500,
    detail: 'An unexpected error occurred.',
    request_id: requestId,
  };
}
