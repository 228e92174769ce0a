import net from 'node:net';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'http-error'; status: number; body: string };

/**
 * A TCP proxy on 127.0.0.1 in front of a real KMS endpoint whose behaviour a test switches at run
 * time: pass through, delay, reset connections, or answer with an HTTP error (throttling). Counts
 * the connections it saw so a test can tell whether a recovery caused a storm.
 */
export class FaultProxy {
  mode: FaultMode = { kind: 'pass' };
  requests = 0;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly endpoint: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const url = new URL(target);
    let proxy!: FaultProxy;
    const server = net.createServer((client) => proxy.handle(client, url));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    proxy = new FaultProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  set(mode: FaultMode): void {
    this.mode = mode;
    // Keep-alive connections opened under the old mode must not bypass the new one.
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(client: net.Socket, target: URL): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    const mode = this.mode;
    client.once('data', (first) => {
      this.requests++;
      if (mode.kind === 'reset') {
        client.resetAndDestroy();
        return;
      }
      if (mode.kind === 'http-error') {
        client.end(
          `HTTP/1.1 ${mode.status} Error\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: ${Buffer.byteLength(mode.body)}\r\nconnection: close\r\n\r\n${mode.body}`,
        );
        return;
      }
      const forward = () => {
        if (client.destroyed) return;
        const upstream = net.connect(Number(target.port), target.hostname);
        this.sockets.add(upstream);
        upstream.on('close', () => this.sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        upstream.write(first);
        client.pipe(upstream).pipe(client);
        client.on('data', () => this.requests++);
      };
      if (mode.kind === 'delay') setTimeout(forward, mode.ms).unref();
      else forward();
    });
  }
}
