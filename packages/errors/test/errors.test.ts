import {
  AppError,
  ERROR_CODES,
  ERROR_TABLE,
  fromTypeSlug,
  internalProblem,
  isAppError,
  toTypeSlug,
} from '../src';

describe('errors', () => {
  it('maps every code to a status and a kebab-case type', () => {
    for (const code of ERROR_CODES) {
      expect(ERROR_TABLE[code].status).toBeGreaterThanOrEqual(400);
      expect(fromTypeSlug(toTypeSlug(code))).toBe(code);
    }
    expect(toTypeSlug('INSUFFICIENT_STOCK')).toBe('insufficient-stock');
  });

  it('renders the contract statuses', () => {
    const expected: Record<string, number> = {
      'validation-error': 400,
      unauthenticated: 401,
      forbidden: 403,
      'approval-limit-exceeded': 403,
      'not-found': 404,
      conflict: 409,
      'payload-too-large': 413,
      'insufficient-stock': 409,
      'period-closed': 409,
      'idempotency-key-in-progress': 409,
      'unbalanced-entry': 422,
      'idempotency-key-reused': 422,
      'rate-limited': 429,
      unavailable: 503,
    };
    for (const [slug, status] of Object.entries(expected)) {
      const code = fromTypeSlug(slug);
      expect(code).toBeDefined();
      expect(ERROR_TABLE[code!].status).toBe(status);
    }
  });

  it('builds a problem body with field errors and never the cause', () => {
    const err = new AppError('VALIDATION_ERROR', 'bad', {
      errors: [{ path: 'a', message: 'm' }],
      cause: new Error('SELECT secret FROM x'),
    });
    const p = err.toProblem('rid');
    expect(p).toEqual({
      type: 'validation-error',
      title: 'Validation failed',
      status: 400,
      detail: 'bad',
      request_id: 'rid',
      errors: [{ path: 'a', message: 'm' }],
    });
    expect(JSON.stringify(p)).not.toContain('SELECT');
    expect(isAppError(err)).toBe(true);
    expect(isAppError(new Error('x'))).toBe(false);
  });

  it('gives a generic internal problem', () => {
    expect(internalProblem('r').detail).toBe('An unexpected error occurred.');
  });
});
