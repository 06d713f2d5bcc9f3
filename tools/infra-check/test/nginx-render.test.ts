import { ERROR_TABLE, toTypeSlug, type ErrorCode } from '@kv/errors';
import { optionsFromEnv, renderNginxConfig } from '../src/nginx';

const base = { prefix: '/tmp/kv-nginx-test', upstreams: ['127.0.0.1:8081', '127.0.0.1:8082'] };

describe('renderNginxConfig', () => {
  it('renders least_conn upstreams with passive health and keep-alive, and no leftover placeholder', () => {
    const conf = renderNginxConfig(base);
    expect(conf).not.toMatch(/\{\{|\}\}/);
    expect(conf).toMatch(/upstream kv_gateways \{\s+least_conn;/);
    expect(conf).toContain('server 127.0.0.1:8081 max_fails=3 fail_timeout=10s;');
    expect(conf).toContain('server 127.0.0.1:8082 max_fails=3 fail_timeout=10s;');
    expect(conf).toMatch(/keepalive 64;/);
    expect(conf).toContain('proxy_http_version 1.1;');
    expect(conf).toContain('proxy_set_header Connection "";');
    expect(conf).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
    expect(conf).toContain('proxy_next_upstream error timeout http_502 http_504;');
    expect(conf).not.toMatch(/^\s*proxy_next_upstream [^;#]*non_idempotent/m);
    expect(conf).toContain('client_max_body_size 1m;');
    expect(conf).toContain(`pid ${base.prefix}/nginx.pid;`);
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      expect(conf).toContain(`${t}_temp_path ${base.prefix}/tmp/${t};`);
  });

  it('declares the limit zones in http and applies 10 r/s burst 20 in location / by default', () => {
    const conf = renderNginxConfig(base);
    const http = conf.slice(conf.indexOf('http {'), conf.indexOf('server {'));
    expect(http).toContain('limit_req_zone $binary_remote_addr zone=kv_edge_req:10m rate=10r/s;');
    expect(http).toContain('limit_conn_zone $binary_remote_addr zone=kv_edge_conn:10m;');
    expect(http).toContain('limit_req_status 429;');
    const locationSlash = conf.slice(conf.indexOf('location / {'));
    expect(locationSlash).toMatch(
      /^location \/ \{\s+limit_req zone=kv_edge_req burst=20 nodelay;\s+limit_conn kv_edge_conn 100;/,
    );
  });

  it('drops every edge limit when the rate is 0 (EDGE_RATE_LIMIT_RPS=0)', () => {
    const conf = renderNginxConfig({ ...base, rateLimitRps: 0 });
    expect(conf).not.toMatch(/^\s*limit_(req|conn)/m);
    const withConn = renderNginxConfig({ ...base, rateLimitRps: 0, connLimitPerIp: 50 });
    expect(withConn).toContain('limit_conn kv_edge_conn 50;');
    expect(withConn).not.toMatch(/^\s*limit_req/m);
  });

  it('renders the TLS server block only when certificate paths are given', () => {
    expect(renderNginxConfig(base)).not.toContain('ssl_certificate');
    const conf = renderNginxConfig({
      ...base,
      tls: { port: 9443, certificate: '/etc/kv/tls.crt', certificateKey: '/etc/kv/tls.key' },
    });
    expect(conf).toContain('listen 0.0.0.0:9443 ssl;');
    expect(conf).toContain('ssl_certificate /etc/kv/tls.crt;');
    expect(conf).toContain('ssl_certificate_key /etc/kv/tls.key;');
    expect(conf).toContain('Strict-Transport-Security');
    expect(conf.match(/server \{/g)).toHaveLength(2);
  });

  it("answers nginx's own errors with the contract's problem types and titles", () => {
    const conf = renderNginxConfig(base);
    const codes: [ErrorCode, number][] = [
      ['PAYLOAD_TOO_LARGE', 413],
      ['RATE_LIMITED', 429],
      ['UNAVAILABLE', 503],
      ['INTERNAL', 500],
      ['VALIDATION_ERROR', 400],
    ];
    for (const [code, status] of codes) {
      expect(ERROR_TABLE[code].status).toBe(status);
      expect(conf).toContain(
        `return ${status} '{"type":"${toTypeSlug(code)}","title":"${ERROR_TABLE[code].title}","status":${status},`,
      );
    }
  });

  it('rejects options that could break out of a directive, naming the option', () => {
    expect(() => renderNginxConfig({ ...base, prefix: 'relative/dir' })).toThrow(/prefix/);
    expect(() => renderNginxConfig({ ...base, prefix: '/tmp/x; include /etc/passwd' })).toThrow(/prefix/);
    expect(() => renderNginxConfig({ ...base, upstreams: [] })).toThrow(/upstreams/);
    expect(() => renderNginxConfig({ ...base, upstreams: ['evil host:80'] })).toThrow(/upstreams\[0\]/);
    expect(() => renderNginxConfig({ ...base, upstreams: ['gw:99999'] })).toThrow(/port/);
    expect(() => renderNginxConfig({ ...base, rateLimitRps: 1.5 })).toThrow(/rateLimitRps/);
    expect(() => renderNginxConfig({ ...base, realIpFrom: ['10.0.0.0/8; allow all'] })).toThrow(/realIpFrom/);
    expect(() =>
      renderNginxConfig({ ...base, tls: { port: 8080, certificate: '/a.crt', certificateKey: '/a.key' } }),
    ).toThrow(/tls.port/);
  });

  it('accepts upstream host names, IPv6 addresses and {host, port} objects', () => {
    const conf = renderNginxConfig({
      ...base,
      upstreams: ['gateway-1:8080', '[::1]:8081', { host: 'kv-erp-gateway.default.svc', port: 8080 }],
    });
    expect(conf).toContain('server gateway-1:8080 ');
    expect(conf).toContain('server [::1]:8081 ');
    expect(conf).toContain('server kv-erp-gateway.default.svc:8080 ');
  });

  it('reads its options from the environment for the CLI and compose', () => {
    const o = optionsFromEnv({
      NGINX_PREFIX: '/run/kv-nginx',
      NGINX_UPSTREAMS: 'gateway-1:8080, gateway-2:8080',
      NGINX_LISTEN_PORT: '8080',
      EDGE_RATE_LIMIT_RPS: '0',
      NGINX_ACCESS_LOG: '/dev/stdout',
      NGINX_ERROR_LOG: 'stderr',
    });
    expect(o).toMatchObject({
      prefix: '/run/kv-nginx',
      upstreams: ['gateway-1:8080', 'gateway-2:8080'],
      listenPort: 8080,
      rateLimitRps: 0,
    });
    const conf = renderNginxConfig(o);
    expect(conf).toContain('access_log /dev/stdout kv_json;');
    expect(conf).toContain('error_log stderr warn;');
    expect(() => optionsFromEnv({ EDGE_RATE_LIMIT_RPS: 'ten' })).toThrow(/EDGE_RATE_LIMIT_RPS/);
    expect(() => optionsFromEnv({ NGINX_TLS_CERT: '/a' })).toThrow(/NGINX_TLS_KEY/);
  });
});
