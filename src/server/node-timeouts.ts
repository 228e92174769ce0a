import type { ServerOptions } from 'node:http';

/**
 * server.requestTimeoutMs as node's http server must receive it: at creation. fastify sets
 * `server.requestTimeout` after creating the server, next to node's default 60 s
 * `headersTimeout`; with the headers timeout longer than the request timeout, node never applied
 * the request timeout to a body arriving slowly, and looked for expired requests only every 30 s
 * (`connectionsCheckingInterval`), so a body trickled a byte at a time held a connection 60-90 s
 * (issue 15). Given here, a request whose headers and body are not complete within the timeout is
 * answered 408 and its connection closed, at most one check interval late.
 */
export function nodeServerTimeouts(requestTimeoutMs: number): Pick<ServerOptions, 'requestTimeout' | 'headersTimeout' | 'connectionsCheckingInterval'> {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    // A quarter of the timeout, between 0.1 s and 1 s: each check walks the open connections once.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(requestTimeoutMs / 4))),
  };
}
