import express from 'express';
import request from 'supertest';
import { createMetrics } from '../src';
import { httpMetrics, metricsHandler } from '../src/express';

describe('metrics', () => {
  it('labels by matched route, not raw URL, and serves prometheus text', async () => {
    const metrics = createMetrics({ service: 't', defaultMetrics: false });
    const app = express();
    app.use(httpMetrics(metrics));
    app.get('/items/:id', (_req, res) => {
      res.json({});
    });
    app.get('/metrics', metricsHandler(metrics));
    for (let i = 0; i < 5; i++) await request(app).get(`/items/${i}`);
    for (let i = 0; i < 5; i++) await request(app).get(`/random-${i}`);
    const text = (await request(app).get('/metrics')).text;
    expect(text).toContain('http_requests_total{method="GET",route="/items/:id",status="200",service="t"} 5');
    expect(text).toContain('route="unmatched"');
    expect(text).not.toContain('random-');
  });

  it('returns the same metric when asked twice', () => {
    const metrics = createMetrics({ service: 't', defaultMetrics: false });
    expect(metrics.counter('x_total', 'x')).toBe(metrics.counter('x_total', 'x'));
  });
});
