import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/**
 * A stand-in gateway: a plain node:http server in its own process (so it can be SIGKILLed like a crashed
 * instance). It answers JSON naming the instance and echoing what nginx forwarded. Paths:
 * - any path: 200 `{instance, method, path, request_id, xff, real_ip, proto, connection, bytes, http_version}`
 *   after `?ms=` (or the instance's `delayMs`) milliseconds; sets helmet-like headers nginx must dedupe;
 * - `/docs`: also sends its own Content-Security-Policy (nginx must pass it through);
 * - `/dep-down`: 503 problem+json `unavailable`, as a gateway whose Redis is down answers login;
 * - `/crash?on=NAME`: the instance NAME destroys the connection after reading the request (others answer).
 */
const SCRIPT = String.raw`
const http = require('node:http');
const name = process.env.UPSTREAM_NAME;
const port = Number(process.env.UPSTREAM_PORT);
const delay = Number(process.env.UPSTREAM_DELAY_MS || 0);
const server = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => {
    const url = new URL(req.url, 'http://upstream');
    const id = req.headers['x-request-id'];
    process.stdout.write(JSON.stringify({ seen: { method: req.method, path: url.pathname, request_id: id } }) + '\n');
    const reply = () => {
      if (url.pathname === '/crash' && url.searchParams.get('on') === name) return req.socket.destroy();
      if (url.pathname === '/dep-down') {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'x-request-id': id || '' });
        return res.end(JSON.stringify({ type: 'unavailable', title: 'Service unavailable', status: 503,
          detail: 'redis is down (answered by ' + name + ')', request_id: id }));
      }
      const headers = { 'content-type': 'application/json', 'x-request-id': id || '',
        'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'x-powered-by': 'Express' };
      if (url.pathname === '/docs') headers['content-security-policy'] = "default-src 'self'; script-src 'self' 'unsafe-inline'";
      res.writeHead(200, headers);
      res.end(JSON.stringify({ instance: name, method: req.method, path: url.pathname, request_id: id,
        xff: req.headers['x-forwarded-for'] || null, real_ip: req.headers['x-real-ip'] || null,
        proto: req.headers['x-forwarded-proto'] || null, connection: req.headers.connection || null,
        bytes, http_version: req.httpVersion }));
    };
    const ms = url.searchParams.has('ms') ? Number(url.searchParams.get('ms')) : delay;
    if (ms > 0) setTimeout(reply, ms); else reply();
  });
});
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.listen(port, '127.0.0.1', () => process.stdout.write(JSON.stringify({ listening: port }) + '\n'));
`;

/** One request an upstream received. */
export interface SeenRequest {
  method: string;
  path: string;
  request_id: string | undefined;
}

/** A running stand-in gateway. */
export interface EchoUpstream {
  name: string;
  port: number;
  /** `host:port` for the nginx renderer. */
  address: string;
  /** Every request this instance received, across restarts, in order. */
  seen: SeenRequest[];
  /** Starts the process (again) on the same port; resolves once it listens. */
  start(): Promise<void>;
  /** SIGKILL, like a crash; resolves once the process is gone. */
  kill(): Promise<void>;
}

/** Starts a stand-in gateway process named `name` on `port` (answers after `delayMs`, default 0). */
export async function startEchoUpstream(name: string, port: number, delayMs = 0): Promise<EchoUpstream> {
  let proc: ChildProcess | undefined;
  const seen: SeenRequest[] = [];
  const self: EchoUpstream = {
    name,
    port,
    address: `127.0.0.1:${port}`,
    seen,
    start() {
      if (proc) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const p = spawn(process.execPath, ['-e', SCRIPT], {
          env: { UPSTREAM_NAME: name, UPSTREAM_PORT: String(port), UPSTREAM_DELAY_MS: String(delayMs) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        proc = p;
        let stderr = '';
        p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        p.once('exit', (code) => {
          if (proc === p) proc = undefined;
          reject(new Error(`upstream ${name} exited (${code}) before listening: ${stderr}`));
        });
        readline.createInterface({ input: p.stdout }).on('line', (line) => {
          const msg = JSON.parse(line) as { seen?: SeenRequest; listening?: number };
          if (msg.seen) seen.push(msg.seen);
          if (msg.listening) resolve();
        });
      });
    },
    kill() {
      const p = proc;
      if (!p) return Promise.resolve();
      return new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
  };
  await self.start();
  return self;
}
