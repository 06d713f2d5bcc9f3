/** Option checks shared by the constructors; each throws a `TypeError` naming the option (never its value's secrets). */

export function assertInteger(
  option: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${option} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

export function assertFunction(option: string, value: unknown): void {
  if (typeof value !== 'function') throw new TypeError(`${option} must be a function`);
}

export function assertOptionalFunction(option: string, value: unknown): void {
  if (value !== undefined) assertFunction(option, value);
}

/** Limiter names appear in Redis keys and, quoted, in the `RateLimit` headers (an sf-string). */
const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function assertName(option: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new TypeError(`${option} must match ${String(NAME)}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks that `obj[key]` is a function without detaching the method from its object. */
export function assertMethod(option: string, obj: object, key: string): void {
  assertFunction(option, (obj as Record<string, unknown>)[key]);
}

export function assertObject(option: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${option} must be an object`);
}
