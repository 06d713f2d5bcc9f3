import { randomUUID } from 'node:crypto';
import type { LoginRequest, TokenResponse } from '@kv/api-contract';
import { AppError, errors, isAppError } from '@kv/errors';
import type { SystemDirectory } from '../data/system-directory';
import type { IdentityResolver } from './identity';
import type { PasswordHasher } from './passwords';
import type { SessionStore } from './sessions';
import type { AccessClaims, IssuedTokens, TokenService } from './tokens';

/** Login, refresh and logout. Every step that needs Redis answers 503 `unavailable` while it is down. */
export interface AuthService {
  /** @throws AppError UNAUTHENTICATED (any wrong credential, same answer), UNAVAILABLE */
  login(input: LoginRequest): Promise<TokenResponse>;
  /** @throws AppError UNAUTHENTICATED (invalid, expired, rotated: the session is then revoked), UNAVAILABLE */
  refresh(refreshToken: string): Promise<TokenResponse>;
  /** @throws AppError UNAVAILABLE */
  logout(claims: AccessClaims): Promise<void>;
}

export interface AuthServiceOptions {
  directory: SystemDirectory;
  passwords: PasswordHasher;
  sessions: SessionStore;
  tokens: TokenService;
  identity: IdentityResolver;
  /** Called for each outcome (metrics). */
  onOutcome?: (
    event: 'login' | 'refresh' | 'logout',
    outcome: 'ok' | 'denied' | 'reuse' | 'unavailable',
  ) => void;
}

const BAD_CREDENTIALS = 'The tenant, email or password is wrong.';

/** Runs a Redis step, turning an infrastructure failure into 503 `unavailable`. */
async function viaRedis<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isAppError(err)) throw err;
    throw errors.unavailable('Sessions are temporarily unavailable; retry later.', err);
  }
}

function toResponse(t: IssuedTokens, accessTtlS: number): TokenResponse {
  return {
    access_token: t.accessToken,
    refresh_token: t.refreshToken,
    token_type: 'Bearer',
    expires_in: accessTtlS,
  };
}

/** Creates the auth service. */
export function createAuthService(options: AuthServiceOptions): AuthService {
  const { directory, passwords, sessions, tokens } = options;
  const outcome = options.onOutcome ?? (() => undefined);

  return {
    async login(input) {
      const record = await directory.findLogin(input.tenant, input.email);
      if (!record) {
        await passwords.burn(input.password);
        outcome('login', 'denied');
        throw new AppError('UNAUTHENTICATED', BAD_CREDENTIALS);
      }
      const ok = await passwords.verify(input.password, record.passwordHash);
      if (!ok || record.disabled) {
        outcome('login', 'denied');
        throw new AppError('UNAUTHENTICATED', BAD_CREDENTIALS);
      }
      const issued = tokens.issue({
        userId: record.userId,
        tenantId: record.tenantId,
        sessionId: randomUUID(),
      });
      try {
        await viaRedis(() =>
          sessions.create({
            tenantId: record.tenantId,
            userId: record.userId,
            sessionId: issued.refresh.sid,
            refreshJti: issued.refresh.jti,
          }),
        );
      } catch (err) {
        outcome('login', 'unavailable');
        throw err;
      }
      outcome('login', 'ok');
      return toResponse(issued, tokens.accessTtlS);
    },

    async refresh(refreshToken) {
      const claims = tokens.verifyRefresh(refreshToken);
      const issued = tokens.issue({ userId: claims.sub, tenantId: claims.tid, sessionId: claims.sid });
      let result: 'rotated' | 'reused' | 'missing';
      try {
        result = await viaRedis(() =>
          sessions.rotate({
            tenantId: claims.tid,
            userId: claims.sub,
            sessionId: claims.sid,
            presentedJti: claims.jti,
            nextJti: issued.refresh.jti,
          }),
        );
      } catch (err) {
        outcome('refresh', 'unavailable');
        throw err;
      }
      if (result === 'reused') {
        outcome('refresh', 'reuse');
        throw new AppError(
          'UNAUTHENTICATED',
          'This refresh token was already used; the session has been revoked.',
        );
      }
      if (result === 'missing') {
        outcome('refresh', 'denied');
        throw new AppError('UNAUTHENTICATED', 'The session has ended; log in again.');
      }
      // The user may have been disabled meanwhile (which also ends their sessions): check the live state.
      await options.identity.resolve(issued.access);
      outcome('refresh', 'ok');
      return toResponse(issued, tokens.accessTtlS);
    },

    async logout(claims) {
      try {
        await viaRedis(() => sessions.logout(claims));
      } catch (err) {
        outcome('logout', 'unavailable');
        throw err;
      }
      outcome('logout', 'ok');
    },
  };
}
