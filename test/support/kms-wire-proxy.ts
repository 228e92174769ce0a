import http from 'node:http';
import type { AddressInfo } from 'node:net';

// Hop-by-hop headers stay with their connection: the proxy keeps its caller's connections alive
// whatever moto does (moto's HTTP/1.0 server closes each one), as AWS KMS keeps them alive.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const endToEnd = (headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders => Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));

/**
 * An HTTP proxy on 127.0.0.1 in front of a KMS endpoint (moto) for one caller (one simulated
 * process): counts each request on the wire by its KMS operation (the `X-Amz-Target` the AWS SDK
 * sends, `TrentService.GenerateDataKey`) and holds each back by `delayMs`, a KMS round trip's
 * latency per request. test/support/fault-proxy.ts works per TCP connection, and the SDK keeps
 * connections alive, so it would delay only the first request of each.
 */
export class KmsWireProxy {
  delayMs = 0;
  private counts: Record<string, number> = {};
  private readonly upstream = new http.Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    private readonly server: http.Server,
    private readonly target: URL,
    readonly endpoint: string,
  ) {}

  static async start(target: string): Promise<KmsWireProxy> {
    let proxy!: KmsWireProxy;
    const server = http.createServer((req, res) => proxy.forward(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new KmsWireProxy(server, new URL(target), `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** Requests by operation since the start or the last reset (a copy), e.g. `{ GenerateDataKey: 1, Decrypt: 2 }`. */
  snapshot(): Record<string, number> {
    return { ...this.counts };
  }

  /** Every request counted so far, whatever its operation. */
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.counts = {};
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.upstream.destroy();
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const op = String(req.headers['x-amz-target'] ?? 'other').replace(/^TrentService\./, '');
    this.counts[op] = (this.counts[op] ?? 0) + 1;
    const send = () => {
      const up = http.request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: endToEnd(req.headers), agent: this.upstream },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers));
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (this.delayMs > 0) setTimeout(send, this.delayMs).unref();
    else send();
  }
}
