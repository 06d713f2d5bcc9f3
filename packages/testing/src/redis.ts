import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import Redis from 'ioredis';

/** The shared local Redis (tests isolate themselves by key prefix). */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A key prefix unique to this test file/run, e.g. `t:lock:1a2b3c4d:`. */
export function uniquePrefix(label = 't'): string {
  return `t:${label}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under a prefix (SCAN, not KEYS). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** Starts (or restarts) the server on the same port; data is not kept. */
  start(): Promise<void>;
  /** Stops it (SIGKILL: like a crash). */
  kill(): Promise<void>;
}

/**
 * A private `redis-server` on a free port, for tests that kill or restart Redis without disturbing others.
 * Needs the `redis-server` binary on PATH.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const self: PrivateRedis = {
    port,
    url,
    async start() {
      if (proc) return;
      proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      const deadline = Date.now() + 5000;
      for (;;) {
        const probe = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        try {
          await probe.connect();
          await probe.ping();
          probe.disconnect();
          return;
        } catch {
          // A probe that never connected has already ended; disconnect() would leave a 2 s timer behind.
          if (probe.status !== 'end') probe.disconnect();
          if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    async kill() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
  };
  await self.start();
  return self;
}
