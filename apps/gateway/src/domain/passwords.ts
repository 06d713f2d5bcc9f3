import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters. */
export interface ScryptParams {
  /** CPU/memory cost (power of two); default 16384. */
  N: number;
  /** Block size; default 8. */
  r: number;
  /** Parallelism; default 1. */
  p: number;
}

/** Defaults: N=2^14, r=8, p=1 (16 MiB, tens of ms per hash): OWASP's minimum for scrypt. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16_384, r: 8, p: 1 };
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 128 * params.N * params.r * 2,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Password hashing with `node:crypto` scrypt and a constant-time comparison. */
export interface PasswordHasher {
  /** Encoded as `scrypt$N$r$p$salt$hash` (base64url), so parameters can change without breaking old hashes. */
  hash(password: string): Promise<string>;
  /** Constant-time check; `false` for a malformed hash. */
  verify(password: string, encoded: string): Promise<boolean>;
  /**
   * Spends the same time as a real verification against nothing: used when the user does not exist, so the
   * response time does not reveal which emails are registered.
   */
  burn(password: string): Promise<void>;
}

/** Creates a hasher with the given scrypt parameters (defaults: {@link DEFAULT_SCRYPT}). */
export function createPasswordHasher(params: ScryptParams = DEFAULT_SCRYPT): PasswordHasher {
  const dummySalt = randomBytes(SALT_LENGTH);
  return {
    async hash(password) {
      const salt = randomBytes(SALT_LENGTH);
      const key = await derive(password, salt, params);
      return [
        'scrypt',
        params.N,
        params.r,
        params.p,
        salt.toString('base64url'),
        key.toString('base64url'),
      ].join('$');
    },
    async verify(password, encoded) {
      const parts = encoded.split('$');
      if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
      const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
      if (![N, r, p].every((v) => Number.isInteger(v) && v > 0)) return false;
      const salt = Buffer.from(parts[4]!, 'base64url');
      const expected = Buffer.from(parts[5]!, 'base64url');
      if (expected.length !== KEY_LENGTH) return false;
      const actual = await derive(password, salt, { N, r, p });
      return timingSafeEqual(actual, expected);
    },
    async burn(password) {
      await derive(password, dummySalt, params);
    },
  };
}
