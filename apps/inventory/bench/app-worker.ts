import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { createNullLogger } from '@kv/logger';
import { createMetrics } from '@kv/metrics';
import { createIdentityCodec } from '@kv/tenant-context';
import { createApp } from '../src/app';
import { createPool } from '../src/data/knex';

/** The service, in a worker thread of the benchmark process (so the load generator has its own event loop). */
interface WorkerInput {
  appUrl: string;
  systemUrl: string;
  secret: string;
  poolMax: number;
}

const input = workerData as WorkerInput;
const db = createPool(input.appUrl, { max: input.poolMax, applicationName: 'inventory-bench' });
const systemDb = createPool(input.systemUrl, { max: 1, applicationName: 'inventory-bench-system' });
const app = createApp({
  db,
  systemDb,
  codec: createIdentityCodec({ secret: input.secret }),
  logger: createNullLogger(),
  metrics: createMetrics({ service: 'inventory', defaultMetrics: false }),
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  parentPort!.postMessage({ port: typeof address === 'object' && address ? address.port : 0 });
});
server.keepAliveTimeout = 65_000;
let eluStart = performance.eventLoopUtilization();
parentPort!.on('message', (msg: unknown) => {
  // How busy this thread's event loop was between 'elu-start' and 'elu-end' (0..1): 1 means the service is CPU-bound.
  if (msg === 'elu-start') {
    eluStart = performance.eventLoopUtilization();
    return;
  }
  if (msg === 'elu-end') {
    parentPort!.postMessage({ elu: performance.eventLoopUtilization(eluStart).utilization });
    return;
  }
  if (msg !== 'close') return;
  // Requests cut off by the load generator still run to completion before the pools close.
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), 2000);
  void drained
    .then(() => new Promise((r) => setTimeout(r, 500)))
    .then(() => Promise.all([db.destroy(), systemDb.destroy()]))
    .then(() => {
      clearTimeout(timer);
      parentPort!.postMessage({ closed: true });
    });
});
