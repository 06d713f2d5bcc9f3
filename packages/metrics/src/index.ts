import client from 'prom-client';

export type { Registry, Counter, Gauge, Histogram } from 'prom-client';

/** A service's metrics: its own registry (so tests and several apps in one process never clash). */
export interface Metrics {
  registry: client.Registry;
  /** `http_request_duration_seconds{method,route,status_class}`: route is the matched pattern, never the raw URL. */
  httpDuration: client.Histogram<'method' | 'route' | 'status_class'>;
  /** `http_requests_total{method,route,status}` with status bounded to known codes. */
  httpRequests: client.Counter<'method' | 'route' | 'status'>;
  counter<L extends string>(name: string, help: string, labelNames?: readonly L[]): client.Counter<L>;
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    collect?: () => void | Promise<void>,
  ): client.Gauge<L>;
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    buckets?: number[],
  ): client.Histogram<L>;
  /** Prometheus text exposition. */
  render(): Promise<string>;
  contentType: string;
}

export interface MetricsOptions {
  /** `service` label on every series. */
  service: string;
  /** Collect Node process metrics (default true). */
  defaultMetrics?: boolean;
}

/** Latency buckets in seconds, 1 ms .. 10 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Creates a registry with HTTP metrics and (optionally) Node default metrics. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry });
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const m: Metrics = {
    registry,
    httpDuration: new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by matched route',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    httpRequests: new client.Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by matched route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    counter: (name, help, labelNames) =>
      existing(name) ??
      new client.Counter({ name, help, labelNames: labelNames ?? [], registers: [registry] }),
    gauge: (name, help, labelNames, collect) =>
      existing(name) ??
      new client.Gauge({
        name,
        help,
        labelNames: labelNames ?? [],
        registers: [registry],
        ...(collect ? { collect } : {}),
      }),
    histogram: (name, help, labelNames, buckets) =>
      existing(name) ??
      new client.Histogram({
        name,
        help,
        labelNames: labelNames ?? [],
        buckets: buckets ?? LATENCY_BUCKETS,
        registers: [registry],
      }),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
  return m;
}

const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** Bounds a method label to the known verbs. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}
