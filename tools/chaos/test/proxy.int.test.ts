import net from 'node:net';
import { startFaultyProxy, type FaultyProxy } from '../src/proxy';

/** Round trip of one small message through the proxy to an echo server, in ms. */
async function roundTrip(port: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('ping'));
    s.once('data', () => {
      s.destroy();
      resolve(Date.now() - started);
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed without an answer')));
  });
}

describe('startFaultyProxy', () => {
  let echo: net.Server;
  let proxy: FaultyProxy;

  beforeAll(async () => {
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const port = (echo.address() as net.AddressInfo).port;
    proxy = await startFaultyProxy({ targetHost: '127.0.0.1', targetPort: port });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  it('forwards both ways without added delay by default', async () => {
    expect(await roundTrip(proxy.port)).toBeLessThan(150);
  });

  it('adds the configured latency in each direction', async () => {
    proxy.setLatency(150);
    try {
      expect(await roundTrip(proxy.port)).toBeGreaterThanOrEqual(290);
    } finally {
      proxy.setLatency(0);
    }
  });

  it('keeps the order of chunks under latency with jitter', async () => {
    proxy.setLatency(20, 30);
    try {
      const got = await new Promise<string>((resolve, reject) => {
        let data = '';
        const s = net.connect(proxy.port, '127.0.0.1', () => {
          for (let i = 0; i < 50; i++) s.write(`${i},`);
        });
        s.on('data', (b: Buffer) => {
          data += b.toString();
          if (data.split(',').length > 50) {
            s.destroy();
            resolve(data);
          }
        });
        s.once('error', reject);
      });
      expect(got).toBe(`${Array.from({ length: 50 }, (_, i) => `${i},`).join('')}`);
    } finally {
      proxy.setLatency(0);
    }
  });

  it('resets open and new connections while down, and forwards again once up', async () => {
    const open = net.connect(proxy.port, '127.0.0.1');
    await new Promise<void>((r) => open.once('connect', () => r()));
    const closed = new Promise<void>((r) => open.once('close', () => r()));
    open.on('error', () => undefined);
    proxy.setDown(true);
    await closed;
    await expect(roundTrip(proxy.port)).rejects.toThrow();
    proxy.setDown(false);
    expect(await roundTrip(proxy.port)).toBeLessThan(150);
  });
});
