/** Types of render.cjs (the nginx edge config renderer). */

/** A gateway instance behind nginx: `"host:port"` or `{ host, port }`. */
export type NginxUpstream = string | { host: string; port: number };

/** Options of {@link renderNginxConfig}. Every number is validated (integer, range); paths must be absolute. */
export interface NginxOptions {
  /** Folder that holds nginx.conf, the pid, logs and every `*_temp_path` (nginx writes nowhere else). */
  prefix: string;
  /** Gateway instances (least_conn, passive health). At least one. */
  upstreams: NginxUpstream[];
  /** Address to listen on. Default `0.0.0.0`. */
  listenHost?: string;
  /** Plain HTTP port. Default 8080. */
  listenPort?: number;
  /** Per-IP requests per second at the edge (`limit_req`). Default 10; `0` turns the edge limits off. */
  rateLimitRps?: number;
  /** Requests above the rate served at once before 429 (`burst`, `nodelay`). Default 20. */
  rateLimitBurst?: number;
  /** Open connections per IP (`limit_conn`). Default 100, or 0 (off) when `rateLimitRps` is 0; 0 = off. */
  connLimitPerIp?: number;
  /** `worker_processes`. Default `auto`. */
  workerProcesses?: number | 'auto';
  /** `worker_connections`. Default 4096. */
  workerConnections?: number;
  /** Failures within `failTimeoutS` that take a gateway out for `failTimeoutS`. Default 3. */
  maxFails?: number;
  /** Seconds; default 10. */
  failTimeoutS?: number;
  /** Idle keep-alive connections to the gateways kept per worker. Default 64. */
  keepalive?: number;
  /** Seconds to connect to a gateway before trying the next. Default 2. */
  proxyConnectTimeoutS?: number;
  /** Seconds between two reads/writes of a gateway response/request. Default 30. */
  proxyReadTimeoutS?: number;
  /** Access log path (JSON lines), or `false`/`'off'`. Default `<prefix>/access.log`. */
  accessLog?: string | false;
  /** Error log path or `'stderr'`. Default `<prefix>/error.log`. */
  errorLog?: string;
  /** Proxies in front of nginx whose X-Forwarded-For is trusted (`set_real_ip_from`). Default none. */
  realIpFrom?: string[];
  /** Adds a TLS server block with the same routes. Default: none. */
  tls?: { port?: number; certificate: string; certificateKey: string };
}

/** What {@link writeNginxConfig} wrote and how to start nginx on it. */
export interface WrittenNginxConfig {
  prefix: string;
  configPath: string;
  pidPath: string;
  errorLogPath: string;
  /** argv for `nginx`: `-p PREFIX -c PREFIX/nginx.conf -e ERRLOG -g 'daemon off;'`. */
  args: string[];
}

/** The complete nginx.conf text. Pure (reads the templates only). Throws naming the first invalid option. */
export function renderNginxConfig(options: NginxOptions): string;

/** Renders into `<prefix>/nginx.conf`, creates the prefix and its temp folders. Throws like renderNginxConfig. */
export function writeNginxConfig(options: NginxOptions): WrittenNginxConfig;

/**
 * Options from environment variables: NGINX_PREFIX, NGINX_UPSTREAMS (comma list of host:port),
 * NGINX_LISTEN_HOST, NGINX_LISTEN_PORT, EDGE_RATE_LIMIT_RPS, EDGE_RATE_LIMIT_BURST, EDGE_CONN_LIMIT,
 * NGINX_WORKER_PROCESSES, NGINX_ACCESS_LOG, NGINX_ERROR_LOG, NGINX_REAL_IP_FROM (comma list),
 * NGINX_TLS_CERT + NGINX_TLS_KEY (+ NGINX_TLS_PORT, default 8443). Throws on a malformed number.
 */
export function optionsFromEnv(env: Record<string, string | undefined>): NginxOptions;

/** The defaults applied to unset options. */
export const NGINX_DEFAULTS: Readonly<
  Required<Omit<NginxOptions, 'prefix' | 'upstreams' | 'accessLog' | 'errorLog' | 'realIpFrom' | 'tls'>>
>;
