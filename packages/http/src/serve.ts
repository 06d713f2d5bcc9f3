import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import type { Express } from 'express';

export interface ServeOptions {
  port: number;
  host?: string;
  logger: Logger;
  /** Closes pools and clients after the server has drained. */
  onShutdown: () => Promise<void>;
  /** How long in-flight requests may take to finish after SIGTERM; default 10 s. */
  drainTimeoutMs?: number;
  /** Exit the process when done (default true; tests pass false). */
  exit?: boolean;
  /** Signals to handle; default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[];
}

export interface Served {
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  /** True once shutdown has begun: feed it to the readiness check. */
  isShuttingDown: () => boolean;
  /** Stops accepting, drains in-flight requests, then runs onShutdown. Idempotent. */
  shutdown: (reason?: string) => Promise<void>;
}

/**
 * Listens and installs graceful shutdown: on a signal it stops accepting connections, lets in-flight
 * requests finish (closing idle keep-alive sockets at once), then closes the app's resources.
 */
export async function serve(app: Express, options: ServeOptions): Promise<Served> {
  const { logger } = options;
  const server = app.listen(options.port, options.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  // Longer than typical balancer idle timeouts so the balancer, not us, closes idle upstream sockets.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const port = (server.address() as AddressInfo).port;
  let shuttingDown = false;
  let done: Promise<void> | undefined;

  const shutdown = (reason = 'shutdown'): Promise<void> => {
    if (done) return done;
    shuttingDown = true;
    logger.info('shutting down', { reason });
    done = (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), options.drainTimeoutMs ?? 10_000);
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      await closed;
      clearTimeout(timer);
      clearInterval(idle);
      try {
        await options.onShutdown();
      } catch (err) {
        logger.error('error while closing resources', errorFields(err));
      }
      logger.info('stopped');
    })();
    return done;
  };

  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      void shutdown(signal).then(() => {
        if (options.exit !== false) process.exit(0);
      });
    });
  }
  logger.info('listening', { port });
  return { server, port, isShuttingDown: () => shuttingDown, shutdown };
}
