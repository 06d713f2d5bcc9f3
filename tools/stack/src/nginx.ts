import path from 'node:path';
import { writeNginxConfig } from '../../../infra/nginx/render.cjs';
import type { ProcessSpec } from './supervisor';

export interface NginxOptions {
  dataDir: string;
  port: number;
  upstreams: number[];
  /** Per-IP requests/s at the edge; 0 turns the limit off. */
  edgeRps: number;
}

/**
 * Renders the production edge config (infra/nginx) for the local gateways and returns the nginx process to
 * supervise: unprivileged, in the foreground, everything under `<dataDir>/nginx`.
 */
export function startNginx(options: NginxOptions): ProcessSpec {
  const written = writeNginxConfig({
    prefix: path.join(options.dataDir, 'nginx'),
    upstreams: options.upstreams.map((port) => ({ host: '127.0.0.1', port })),
    listenHost: '127.0.0.1',
    listenPort: options.port,
    rateLimitRps: options.edgeRps,
    accessLog: false,
  });
  return {
    name: 'nginx',
    command: 'nginx',
    args: written.args,
    env: {},
    readyUrl: `http://127.0.0.1:${options.port}/health/ready`,
  };
}
