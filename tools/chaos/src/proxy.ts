import net from 'node:net';

/** Options of {@link startFaultyProxy}. */
export interface FaultyProxyOptions {
  /** Where connections are forwarded. */
  targetHost: string;
  targetPort: number;
  /** Port to listen on (127.0.0.1); default a free one. */
  listenPort?: number;
}

/** A TCP proxy that can add latency or refuse service, for network fault injection. */
export interface FaultyProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /**
   * Delays every chunk, in each direction, by `ms` plus a random 0..`jitterMs` (order is kept: a chunk never
   * overtakes an earlier one). 0 turns the delay off. Applies to chunks read from now on.
   */
  setLatency(ms: number, jitterMs?: number): void;
  /**
   * `true`: resets every open connection and every new one (like a host that went away); `false`: forwards
   * again.
   */
  setDown(down: boolean): void;
  /** Connections accepted so far. */
  accepted(): number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface Delayed {
  at: number;
  chunk: Buffer;
}

/**
 * Copies `src` to `dst` with the proxy's current delay per chunk. Chunks leave in arrival order, at most one
 * timer per direction; the end of `src` is forwarded after the last delayed chunk.
 */
function pipeWithDelay(src: net.Socket, dst: net.Socket, delay: () => number): void {
  const queue: Delayed[] = [];
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  let ended = false;

  const write = (chunk: Buffer) => {
    if (dst.destroyed) return;
    if (!dst.write(chunk)) {
      src.pause();
      dst.once('drain', () => src.resume());
    }
  };
  const flush = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.at <= now) write(queue.shift()!.chunk);
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now);
    else if (ended && !dst.destroyed) dst.end();
  };
  src.on('data', (chunk: Buffer) => {
    const d = delay();
    if (d <= 0 && queue.length === 0) return write(chunk);
    const at = Math.max(Date.now() + d, last);
    last = at;
    queue.push({ at, chunk });
    timer ??= setTimeout(flush, Math.max(0, at - Date.now()));
  });
  src.on('end', () => {
    ended = true;
    if (queue.length === 0 && !dst.destroyed) dst.end();
  });
  src.on('close', () => {
    if (timer) clearTimeout(timer);
  });
}

/** Starts a {@link FaultyProxy} on 127.0.0.1. */
export async function startFaultyProxy(options: FaultyProxyOptions): Promise<FaultyProxy> {
  let latency = 0;
  let jitter = 0;
  let down = false;
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const delay = () => (latency > 0 ? latency + Math.floor(Math.random() * (jitter + 1)) : 0);
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    track(client);
    client.on('error', () => undefined);
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({
      host: options.targetHost,
      port: options.targetPort,
      allowHalfOpen: true,
    });
    track(upstream);
    upstream.on('error', () => client.resetAndDestroy());
    client.on('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipeWithDelay(client, upstream, delay);
    pipeWithDelay(upstream, client, delay);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');

  return {
    port: address.port,
    setLatency(ms, jitterMs = 0) {
      latency = Math.max(0, ms);
      jitter = Math.max(0, jitterMs);
    },
    setDown(value) {
      down = value;
      if (!value) return;
      // RST only fully open sockets: resetAndDestroy() on a half-closed one leaves its handle behind (Node 20).
      for (const s of sockets) {
        if (s.readyState === 'open') s.resetAndDestroy();
        else s.destroy();
      }
    },
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
