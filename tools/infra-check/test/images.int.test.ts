import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createTestDatabase,
  freePort,
  startPrivateRedis,
  type PrivateRedis,
  type TestDatabase,
} from '@kv/testing';
import { APPS, REPO_ROOT } from '../src';
import { dryRunDockerfile, inspectAppImage } from '../src/image-dry-run';
import { smokeStartApp } from '../src/smoke';

// Each app's Dockerfile, run step by step without a Docker engine (turbo prune --docker → frozen install →
// turbo build → pnpm deploy --prod → runtime stage), then the result started against real PostgreSQL
// and a private Redis. About 25-40 s per app on 2 cores (the base stage is shared between apps).
// An app whose src/main.ts does not exist yet is skipped with a notice.
//
// 80 s on an idle 2-core machine, 3+ minutes when it is busy, so it runs only in CI (CI=true, as .ci/run
// sets) or when asked for: KV_IMAGE_CHECK=1 npx jest tools/infra-check/test/images.int.test.ts
const enabled = Boolean(process.env.CI) || process.env.KV_IMAGE_CHECK === '1';
if (!enabled)
  process.stderr.write(
    'images.int.test: skipped (set KV_IMAGE_CHECK=1 or CI=true to run the image dry runs)\n',
  );

const cache = new Map<string, string>();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-images-'));
let db: TestDatabase;
let redis: PrivateRedis;
const secret = randomBytes(32).toString('hex');

beforeAll(async () => {
  if (!enabled) return;
  db = await createTestDatabase('images');
  redis = await startPrivateRedis();
}, 60_000);

afterAll(async () => {
  await redis?.kill();
  await db?.drop();
  fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

function envFor(): Record<string, string> {
  return {
    LOG_LEVEL: 'warn',
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    REDIS_URL: redis.url,
    INTERNAL_SECRET: secret,
    JWT_SECRET: secret,
    MIGRATE_ON_START: 'false',
    PLATFORM_ADMIN_EMAIL: 'admin@platform.local',
    PLATFORM_ADMIN_PASSWORD: 'image-smoke-password',
    // Nothing listens there: a service that is down must not keep the others from starting.
    INVENTORY_URL: 'http://127.0.0.1:9',
    ACCOUNTING_URL: 'http://127.0.0.1:9',
    WORKER_URL: 'http://127.0.0.1:9',
    EXPIRY_ENABLED: 'false',
  };
}

describe.each(APPS.map((a) => [a.name, a] as const))('image of %s', (name) => {
  const present = fs.existsSync(path.join(REPO_ROOT, 'apps', name, 'src', 'main.ts'));
  const maybe = present && enabled ? it : it.skip;
  if (!present)
    process.stderr.write(`images.int.test: apps/${name}/src/main.ts is missing, skipping its image\n`);

  maybe(
    'builds like its Dockerfile says, holds only production dependencies, and starts, answers health and stops',
    async () => {
      const workDir = path.join(root, name);
      const result = await dryRunDockerfile({
        dockerfile: path.join(REPO_ROOT, 'apps', name, 'Dockerfile'),
        workDir,
        stageCache: cache,
      });
      expect(result.stages.map((s) => s.name)).toEqual(['base', 'prune', 'build', 'runtime']);
      expect(inspectAppImage(result)).toEqual([]);

      const smoke = await smokeStartApp(result.appDir, envFor(), await freePort());
      const context = `\n--- output of ${name} ---\n${smoke.output}`;
      expect({ migrateExit: smoke.migrateExit, context }).toEqual({ migrateExit: 0, context });
      expect({ live: smoke.liveStatus, context }).toEqual({ live: 200, context });
      expect(JSON.parse(smoke.ready.body)).toHaveProperty('status');
      expect({ shutdownExit: smoke.shutdownExit, context }).toEqual({ shutdownExit: 0, context });

      // Keep the shared base stage for the next app, drop the rest (about 0.5 GB per app).
      for (const s of result.stages.slice(1)) fs.rmSync(s.root, { recursive: true, force: true });
    },
    600_000,
  );
});
