import { PassThrough } from 'node:stream';
import { createLogger, errorFields } from '../src';

describe('createLogger', () => {
  it('writes one JSON object per line with service, context and fields', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    stream.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    const log = createLogger({
      service: 'svc',
      stream,
      context: () => ({ request_id: 'r1', tenant_id: 't1', user_id: 'u1' }),
    });
    log.child({ component: 'x' }).info('hello', { n: 1 });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const obj = JSON.parse(lines[0]!);
    expect(obj).toMatchObject({
      level: 'info',
      message: 'hello',
      service: 'svc',
      request_id: 'r1',
      tenant_id: 't1',
      user_id: 'u1',
      component: 'x',
      n: 1,
    });
    expect(typeof obj.timestamp).toBe('string');
  });

  it('turns errors with causes into fields', () => {
    const f = errorFields(new Error('outer', { cause: new Error('inner') }));
    expect(f.error).toBe('outer');
    expect((f.cause as Record<string, unknown>).error).toBe('inner');
  });
});
