import { z } from 'zod';
import { ConfigError, env, loadConfig } from '../src';

const schema = z.object({
  PORT: env.port(8080),
  DATABASE_URL: env.url(['postgres', 'postgresql']),
  DEBUG: env.bool(false),
  HOSTS: env.list(),
});

describe('loadConfig', () => {
  it('applies defaults and coerces', () => {
    const c = loadConfig(schema, { DATABASE_URL: 'postgres://x/y', PORT: '', DEBUG: 'yes', HOSTS: 'a, b,' });
    expect(c).toEqual({ PORT: 8080, DATABASE_URL: 'postgres://x/y', DEBUG: true, HOSTS: ['a', 'b'] });
  });

  it('fails fast naming the bad variable but not its value', () => {
    let err: unknown;
    try {
      loadConfig(schema, { DATABASE_URL: 'mysql://secret-password@h/d', PORT: 'abc' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('DATABASE_URL');
    expect(msg).toContain('PORT');
    expect(msg).not.toContain('secret-password');
    expect((err as ConfigError).variables.sort()).toEqual(['DATABASE_URL', 'PORT']);
  });

  it('reports a missing required variable as required', () => {
    expect(() => loadConfig(schema, {})).toThrow(/DATABASE_URL \(required\)/);
  });
});
