import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { methodLabel, type Metrics } from './index';

/**
 * Records duration and count per matched route. Unmatched paths are labelled `unmatched`, so a scan
 * of random URLs cannot blow up cardinality.
 */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const routePath = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof routePath === 'string' ? `${req.baseUrl}${routePath}` : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const method = methodLabel(req.method);
      metrics.httpDuration.observe(
        { method, route, status_class: `${Math.floor(res.statusCode / 100)}xx` },
        seconds,
      );
      metrics.httpRequests.inc({ method, route, status: String(res.statusCode) });
    });
    next();
  };
}

/** `GET /metrics` handler. */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return (_req, res, next) => {
    metrics
      .render()
      .then((text) => {
        res.setHeader('Content-Type', metrics.contentType);
        res.send(text);
      })
      .catch(next);
  };
}
