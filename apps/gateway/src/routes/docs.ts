import path from 'node:path';
import express, { type Router } from 'express';
import type { RouteSpec } from '@kv/api-contract';
import { buildOpenApi } from '../openapi';

/** Folder of the self-hosted Swagger UI assets (no CDN: the docs work offline). */
function swaggerUiDir(): string {
  return path.dirname(require.resolve('swagger-ui-dist/package.json'));
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>kv-erp API reference</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A separate file, not an inline script, so the page works under helmet's default Content-Security-Policy.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
`;

/**
 * `GET /openapi.json` (OpenAPI 3.1 built once from the route table) and `GET /docs` (interactive reference,
 * Swagger UI served from the installed package). Outside authentication and rate limits.
 */
export function docsRouter(routes: readonly RouteSpec[]): Router {
  const router = express.Router();
  let doc: string | undefined;
  router.get('/openapi.json', (_req, res) => {
    doc ??= JSON.stringify(buildOpenApi(routes));
    res.type('application/json').send(doc);
  });
  router.get(['/docs', '/docs/'], (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use(
    '/docs/assets',
    express.static(swaggerUiDir(), { index: false, maxAge: '1d', fallthrough: true }),
  );
  return router;
}
