import { randomUUID } from 'node:crypto';
import { serve } from '@kv/http';
import { createNullLogger } from '@kv/logger';
import { sleep, waitFor } from '@kv/testing';
import { createApp } from '../src/app';
import {
  client,
  createAccount,
  entryBody,
  ledgerCounts,
  startHarness,
  userIdentity,
  type Harness,
} from './helpers';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('acct_shutdown');
});

afterAll(async () => {
  await h.close();
});

it('finishes in-flight postings on SIGTERM-style shutdown before closing the pools', async () => {
  const tenantId = randomUUID();
  const identity = userIdentity(h, { tenantId });
  const c = client(h, identity);
  const a = await createAccount(c, '1000');
  const b = await createAccount(c, '2000', 'liability');
  const served = await serve(createApp(h.deps), {
    port: 0,
    host: '127.0.0.1',
    logger: createNullLogger(),
    onShutdown: () => h.deps.close(),
    exit: false,
    signals: [],
  });
  const url = `http://127.0.0.1:${served.port}/v1/journal-entries`;
  // Hold the period's lock the way a close does, so every posting is still running when shutdown begins.
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  let locked: () => void = () => undefined;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holding = h.owner.transaction(async (trx) => {
    await trx.raw(`SELECT pg_advisory_xact_lock(accounting.period_lock_key(?::uuid, '2026-01'))`, [tenantId]);
    locked();
    await released;
  });
  await isLocked;
  const inFlight = Array.from({ length: 30 }, () =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-kv-identity': identity },
      body: JSON.stringify(entryBody(a, b, 10)),
    }).then((r) => r.status),
  );
  // Every request has reached its unit of work (8 hold a connection and wait for the lock, the rest for a connection).
  await waitFor(() => h.deps.uow.active() === 30, 20_000, 20);
  h.deps.beginShutdown();
  const ready = await h.http().get('/health/ready');
  expect(ready.status).toBe(503);
  const stopping = served.shutdown('test');
  await sleep(200);
  release();
  await holding;
  await stopping;
  const statuses = await Promise.all(inFlight);
  expect(statuses.filter((s) => s !== 201)).toEqual([]);
  const counts = await ledgerCounts(h, tenantId);
  expect(counts.entries).toBe(30);
});
