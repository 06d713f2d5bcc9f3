#!/usr/bin/env node
// Renders infra/nginx/nginx.conf.template (+ server.conf.template) into a complete nginx.conf.
//
// One renderer for every place nginx runs: the local launcher (tools/stack), the tests
// (tools/infra-check), and the compose stack (infra/docker/compose.yml runs this file as a one-shot job).
// Plain CommonJS without dependencies, so it runs from a bare `node` image. Types: render.d.cts.
//
//   library: const { renderNginxConfig, writeNginxConfig } = require('infra/nginx/render.cjs')
//   CLI:     NGINX_PREFIX=/run/kv-nginx NGINX_UPSTREAMS=gw1:8080,gw2:8080 node infra/nginx/render.cjs
//            (variables: see optionsFromEnv below and docs/deployment.md)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const MAIN_TEMPLATE = path.join(__dirname, 'nginx.conf.template');
const SERVER_TEMPLATE = path.join(__dirname, 'server.conf.template');

/** Temp folders nginx needs under the prefix (it never writes outside the prefix). */
const TEMP_DIRS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

const DEFAULTS = {
  listenHost: '0.0.0.0',
  listenPort: 8080,
  rateLimitRps: 10,
  rateLimitBurst: 20,
  connLimitPerIp: 100,
  workerProcesses: 'auto',
  workerConnections: 4096,
  maxFails: 3,
  failTimeoutS: 10,
  keepalive: 64,
  proxyConnectTimeoutS: 2,
  proxyReadTimeoutS: 30,
};

function fail(message) {
  throw new Error(`renderNginxConfig: ${message}`);
}

function int(name, value, min, max) {
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return value;
}

// Anything that ends up in the config unquoted must not be able to open or close a directive.
function safePath(name, value) {
  if (typeof value !== 'string' || !path.isAbsolute(value) || /[\s;{}'"$\\#]/.test(value))
    fail(
      `${name} must be an absolute path without spaces, quotes, ; { } $ or #, got ${JSON.stringify(value)}`,
    );
  return value.replace(/\/+$/, '') || '/';
}

function safeHost(name, value) {
  if (
    typeof value !== 'string' ||
    !/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/.test(
      value,
    )
  )
    fail(`${name} must be a hostname or IP address, got ${JSON.stringify(value)}`);
  return value.includes(':') && !value.startsWith('[') ? `[${value}]` : value;
}

function safeCidr(name, value) {
  if (typeof value !== 'string' || !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(value))
    fail(`${name} entries must be IP addresses or CIDR ranges, got ${JSON.stringify(value)}`);
  return value;
}

function parseUpstream(entry, i) {
  if (typeof entry === 'string') {
    const m = /^(.+):(\d+)$/.exec(entry);
    if (!m) fail(`upstreams[${i}] must look like host:port, got ${JSON.stringify(entry)}`);
    entry = { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
  }
  if (!entry || typeof entry !== 'object') fail(`upstreams[${i}] must be "host:port" or {host, port}`);
  return {
    host: safeHost(`upstreams[${i}].host`, entry.host),
    port: int(`upstreams[${i}].port`, entry.port, 1, 65535),
  };
}

/** Resolves defaults and validates every option once; throws naming the bad option. */
function resolveOptions(options) {
  if (!options || typeof options !== 'object') fail('options are required');
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const prefix = safePath('prefix', o.prefix);
  if (!Array.isArray(o.upstreams) || o.upstreams.length === 0)
    fail('upstreams must list at least one host:port');
  const rateLimitRps = int('rateLimitRps', o.rateLimitRps, 0, 1_000_000);
  const resolved = {
    prefix,
    upstreams: o.upstreams.map(parseUpstream),
    listenHost: safeHost('listenHost', o.listenHost),
    listenPort: int('listenPort', o.listenPort, 1, 65535),
    rateLimitRps,
    rateLimitBurst: int('rateLimitBurst', o.rateLimitBurst, 0, 1_000_000),
    // EDGE_RATE_LIMIT_RPS=0 means "no edge limits" (benchmarks): the connection cap follows it
    // unless it is given explicitly.
    connLimitPerIp: int(
      'connLimitPerIp',
      options.connLimitPerIp === undefined && rateLimitRps === 0 ? 0 : o.connLimitPerIp,
      0,
      1_000_000,
    ),
    workerProcesses:
      o.workerProcesses === 'auto' ? 'auto' : int('workerProcesses', o.workerProcesses, 1, 256),
    workerConnections: int('workerConnections', o.workerConnections, 16, 1_000_000),
    maxFails: int('maxFails', o.maxFails, 0, 1000),
    failTimeoutS: int('failTimeoutS', o.failTimeoutS, 1, 3600),
    keepalive: int('keepalive', o.keepalive, 1, 100_000),
    proxyConnectTimeoutS: int('proxyConnectTimeoutS', o.proxyConnectTimeoutS, 1, 3600),
    proxyReadTimeoutS: int('proxyReadTimeoutS', o.proxyReadTimeoutS, 1, 3600),
    accessLog:
      o.accessLog === false || o.accessLog === 'off'
        ? false
        : safePath('accessLog', o.accessLog ?? `${prefix}/access.log`),
    errorLog: o.errorLog === 'stderr' ? 'stderr' : safePath('errorLog', o.errorLog ?? `${prefix}/error.log`),
    realIpFrom: (o.realIpFrom ?? []).map((v, i) => safeCidr(`realIpFrom[${i}]`, v)),
    tls: undefined,
  };
  if (o.tls) {
    resolved.tls = {
      port: int('tls.port', o.tls.port ?? 8443, 1, 65535),
      certificate: safePath('tls.certificate', o.tls.certificate),
      certificateKey: safePath('tls.certificateKey', o.tls.certificateKey),
    };
    if (resolved.tls.port === resolved.listenPort) fail('tls.port must differ from listenPort');
  }
  return resolved;
}

// Replaces {{NAME}}. A placeholder alone on its line takes a multi-line value, each line indented
// like the placeholder; a leftover or unknown placeholder is an error, never a silent blank.
function fill(template, values, file) {
  const out = template.replace(/^([ \t]*)\{\{([A-Z_]+)\}\}[ \t]*$/gm, (_, indent, name) => {
    if (!(name in values)) fail(`${file}: no value for {{${name}}}`);
    const lines = [].concat(values[name]);
    return lines.length === 0 ? '\u0000' : lines.map((l) => (l ? indent + l : '')).join('\n');
  });
  return out.replace(/^\u0000\n/gm, '').replace(/\{\{([A-Z_]+)\}\}/g, (_, name) => {
    if (!(name in values)) fail(`${file}: no value for {{${name}}}`);
    return String(values[name]);
  });
}

function responseHeaders(o, tls, requestIdVar) {
  const lines = [
    'add_header X-Content-Type-Options "nosniff" always;',
    'add_header X-Frame-Options "DENY" always;',
    'add_header Referrer-Policy "no-referrer" always;',
    'add_header Cross-Origin-Opener-Policy "same-origin" always;',
    'add_header Cross-Origin-Resource-Policy "same-origin" always;',
    'add_header X-Permitted-Cross-Domain-Policies "none" always;',
    'add_header Permissions-Policy "camera=(), microphone=(), geolocation=()" always;',
    `add_header Content-Security-Policy ${requestIdVar === '$kv_request_id' ? '$kv_csp' : "\"default-src 'none'; frame-ancestors 'none'\""} always;`,
    `add_header X-Request-Id ${requestIdVar} always;`,
  ];
  if (tls) lines.push('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;');
  return lines;
}

function renderServer(o, tls) {
  const listen = tls
    ? [`listen ${o.listenHost}:${o.tls.port} ssl;`]
    : [`listen ${o.listenHost}:${o.listenPort};`];
  const tlsLines = tls
    ? [
        `ssl_certificate ${o.tls.certificate};`,
        `ssl_certificate_key ${o.tls.certificateKey};`,
        'ssl_protocols TLSv1.2 TLSv1.3;',
        'ssl_prefer_server_ciphers off;',
        'ssl_session_cache shared:kv_tls:10m;',
        'ssl_session_timeout 1d;',
        'ssl_session_tickets off;',
      ]
    : [];
  const limits = [];
  if (o.rateLimitRps > 0) limits.push(`limit_req zone=kv_edge_req burst=${o.rateLimitBurst} nodelay;`);
  if (o.connLimitPerIp > 0) limits.push(`limit_conn kv_edge_conn ${o.connLimitPerIp};`);
  return fill(
    fs.readFileSync(SERVER_TEMPLATE, 'utf8'),
    {
      LISTEN: listen,
      TLS: tlsLines,
      RESPONSE_HEADERS: responseHeaders(o, tls, '$kv_request_id'),
      ERROR_HEADERS: responseHeaders(o, tls, '$kv_error_request_id'),
      LIMITS: limits.length ? limits : ['# edge limits are off (EDGE_RATE_LIMIT_RPS=0)'],
      PROXY_CONNECT_TIMEOUT: `${o.proxyConnectTimeoutS}s`,
      PROXY_READ_TIMEOUT: `${o.proxyReadTimeoutS}s`,
    },
    'server.conf.template',
  );
}

/**
 * The complete nginx.conf text for the given options (see render.d.cts for each option and its default).
 * Pure: reads the two templates, writes nothing. Throws an Error naming the first invalid option.
 */
function renderNginxConfig(options) {
  const o = resolveOptions(options);
  const limitZones = [];
  if (o.rateLimitRps > 0)
    limitZones.push(
      `limit_req_zone $binary_remote_addr zone=kv_edge_req:10m rate=${o.rateLimitRps}r/s;`,
      'limit_req_status 429;',
      'limit_req_log_level warn;',
    );
  if (o.connLimitPerIp > 0)
    limitZones.push(
      'limit_conn_zone $binary_remote_addr zone=kv_edge_conn:10m;',
      'limit_conn_status 429;',
      'limit_conn_log_level warn;',
    );
  const servers = [renderServer(o, false)];
  if (o.tls) servers.push(renderServer(o, true));
  return fill(
    fs.readFileSync(MAIN_TEMPLATE, 'utf8'),
    {
      PREFIX: o.prefix,
      WORKER_PROCESSES: o.workerProcesses,
      WORKER_CONNECTIONS: o.workerConnections,
      ERROR_LOG: o.errorLog,
      ACCESS_LOG: o.accessLog
        ? o.accessLog.startsWith('/dev/')
          ? `${o.accessLog} kv_json`
          : `${o.accessLog} kv_json buffer=64k flush=1s`
        : 'off',
      REAL_IP: o.realIpFrom.length
        ? [
            ...o.realIpFrom.map((c) => `set_real_ip_from ${c};`),
            'real_ip_header X-Forwarded-For;',
            'real_ip_recursive on;',
          ]
        : ['# none: $remote_addr is the TCP peer'],
      LIMIT_ZONES: limitZones.length ? limitZones : ['# edge limits are off (EDGE_RATE_LIMIT_RPS=0)'],
      UPSTREAM_SERVERS: o.upstreams.map(
        (u) => `server ${u.host}:${u.port} max_fails=${o.maxFails} fail_timeout=${o.failTimeoutS}s;`,
      ),
      UPSTREAM_KEEPALIVE: o.keepalive,
      SERVERS: servers.join('\n').split('\n'),
    },
    'nginx.conf.template',
  )
    .replace(/\n{3,}/g, '\n\n')
    .replace(/\n\n(\s*\})/g, '\n$1');
}

/**
 * Renders the config into `<prefix>/nginx.conf`, creates the prefix and its temp folders, and returns the
 * paths and the argv that starts nginx unprivileged in the foreground with everything under the prefix.
 */
function writeNginxConfig(options) {
  const text = renderNginxConfig(options);
  const prefix = safePath('prefix', options.prefix);
  for (const d of TEMP_DIRS) fs.mkdirSync(path.join(prefix, 'tmp', d), { recursive: true });
  const configPath = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(configPath, text);
  const errorLog =
    options.errorLog === 'stderr' ? 'stderr' : (options.errorLog ?? path.join(prefix, 'error.log'));
  return {
    prefix,
    configPath,
    pidPath: path.join(prefix, 'nginx.pid'),
    errorLogPath: errorLog,
    args: ['-p', prefix, '-c', configPath, '-e', errorLog, '-g', 'daemon off;'],
  };
}

function list(value) {
  return value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

function num(env, name) {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer`);
  return Number(v);
}

/**
 * Options from environment variables (the CLI's and compose's interface). Unset variables keep the
 * renderer's defaults.
 */
function optionsFromEnv(env) {
  const cert = env.NGINX_TLS_CERT;
  const key = env.NGINX_TLS_KEY;
  if (Boolean(cert) !== Boolean(key)) throw new Error('NGINX_TLS_CERT and NGINX_TLS_KEY go together');
  const workers = env.NGINX_WORKER_PROCESSES;
  return {
    prefix: env.NGINX_PREFIX,
    upstreams: list(env.NGINX_UPSTREAMS),
    listenHost: env.NGINX_LISTEN_HOST || undefined,
    listenPort: num(env, 'NGINX_LISTEN_PORT'),
    rateLimitRps: num(env, 'EDGE_RATE_LIMIT_RPS'),
    rateLimitBurst: num(env, 'EDGE_RATE_LIMIT_BURST'),
    connLimitPerIp: num(env, 'EDGE_CONN_LIMIT'),
    workerProcesses:
      workers === undefined || workers === '' || workers === 'auto' ? undefined : Number(workers),
    accessLog: env.NGINX_ACCESS_LOG || undefined,
    errorLog: env.NGINX_ERROR_LOG || undefined,
    realIpFrom: list(env.NGINX_REAL_IP_FROM),
    tls: cert ? { port: num(env, 'NGINX_TLS_PORT'), certificate: cert, certificateKey: key } : undefined,
  };
}

module.exports = { renderNginxConfig, writeNginxConfig, optionsFromEnv, NGINX_DEFAULTS: DEFAULTS };

if (require.main === module) {
  try {
    const args = process.argv.slice(2);
    const owner = args.indexOf('--owner');
    const written = writeNginxConfig(optionsFromEnv(process.env));
    if (owner >= 0) {
      // Compose: a root one-shot job renders into a volume that the unprivileged nginx then owns.
      const [uid, gid] = (args[owner + 1] ?? '').split(':').map(Number);
      if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('--owner needs UID:GID');
      const chown = (p) => {
        fs.chownSync(p, uid, gid);
        if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chown(path.join(p, e));
      };
      chown(written.prefix);
    }
    process.stdout.write(`${written.configPath}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
