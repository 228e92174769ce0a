import http from 'node:http';
import type { AddressInfo } from 'node:net';

// Per connection, not per message: the proxy keeps its callers' connections alive whatever moto does
// (moto's HTTP/1.0 server closes each one), as AWS KMS keeps them alive.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const endToEnd = (headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders => Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));

/** KMS operations as counted on the wire, by the `X-Amz-Target` header the AWS SDK sends (`TrentService.GenerateDataKey`). */
export type KmsOpCounts = Record<string, number>;

/**
 * An HTTP proxy on 127.0.0.1 in front of a KMS endpoint (moto) that holds every request back by its
 * caller's delay before forwarding it: a KMS round trip's network latency, per request rather than
 * per connection (the AWS SDK keeps connections alive, so a TCP-level delay would only slow the
 * first). It listens once per named caller (a process: `local/client`, `kms-10ms/worker`), so each
 * process's KMS calls are counted on the wire by operation, apart from the others'.
 */
export class KmsDelayProxy {
  private readonly counts = new Map<string, KmsOpCounts>();
  private readonly servers: http.Server[] = [];
  private readonly upstream = new http.Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    private readonly target: URL,
    readonly endpoints: Readonly<Record<string, string>>,
  ) {}

  /** `callers`: each caller's name and the delay (ms) added to each of its requests. */
  static async start(target: string, callers: Readonly<Record<string, number>>): Promise<KmsDelayProxy> {
    const endpoints: Record<string, string> = {};
    const proxy = new KmsDelayProxy(new URL(target), endpoints);
    for (const [caller, delayMs] of Object.entries(callers)) {
      const server = http.createServer((req, res) => proxy.forward(caller, delayMs, req, res));
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      proxy.servers.push(server);
      endpoints[caller] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    return proxy;
  }

  /** Requests per caller and operation since start (a copy). */
  snapshot(): Record<string, KmsOpCounts> {
    return Object.fromEntries(Object.keys(this.endpoints).map((c) => [c, { ...this.counts.get(c) }]));
  }

  async stop(): Promise<void> {
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.upstream.destroy();
  }

  private forward(caller: string, delayMs: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    const op = String(req.headers['x-amz-target'] ?? 'other').replace(/^TrentService\./, '');
    const mine = this.counts.get(caller) ?? {};
    mine[op] = (mine[op] ?? 0) + 1;
    this.counts.set(caller, mine);
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
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  }
}
