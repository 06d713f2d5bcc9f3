import fs from 'node:fs';
import path from 'node:path';
import type { ProcessSpec } from './supervisor';

export interface NginxOptions {
  dataDir: string;
  port: number;
  upstreams: number[];
  /** Per-IP requests/s at the edge; 0 turns the limit off. */
  edgeRps: number;
}

/** Writes a config for nginx in front of the gateways and returns the process to supervise. */
export function startNginx(options: NginxOptions): ProcessSpec {
  const dir = path.join(options.dataDir, 'nginx');
  fs.mkdirSync(dir, { recursive: true });
  // Replaced by the production template renderer (infra/nginx) once it lands.
  const conf = `
pid ${dir}/nginx.pid;
worker_processes auto;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/client_body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  access_log off;
  upstream gateways { least_conn; ${options.upstreams.map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=5s;`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${options.port};
    client_max_body_size 1m;
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_502 http_503 http_504;
    }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  return {
    name: 'nginx',
    command: 'nginx',
    args: [
      '-p',
      dir,
      '-c',
      path.join(dir, 'nginx.conf'),
      '-e',
      path.join(dir, 'error.log'),
      '-g',
      'daemon off;',
    ],
    env: {},
    readyUrl: `http://127.0.0.1:${options.port}/health/ready`,
  };
}
