import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import type { Logger } from 'pino';
import { HttpError, toHttp } from './http-errors.js';

/**
 * Errors node raises before a request reaches fastify's routing — a request not complete within
 * server.requestTimeoutMs (a slow body or slow headers), headers over node's size limit, malformed
 * HTTP — answered like every other error, `{"error": {"code", "message"}}`, and the connection
 * closed. fastify's default handler answers these in a shape of its own and logs them at trace
 * level only; a slow-request attack should show in the log.
 */
export function clientErrorHandler(requestTimeoutMs: number, logger: Logger): (err: ConnectionError, socket: Socket) => void {
  return (err, socket) => {
    // A reset or already-closed connection: nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const error =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpError('REQUEST_TIMEOUT', `the request was not received in full within server.requestTimeoutMs (${requestTimeoutMs} ms)`)
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new HttpError('HEADERS_TOO_LARGE', 'request headers are larger than this server accepts')
          : new HttpError('BAD_REQUEST', 'malformed HTTP request');
    const { status, body } = toHttp(error);
    logger.info({ remoteAddress: socket.remoteAddress, error: error.code }, `client error ${status}: connection closed`);
    if (socket.writable) {
      const text = JSON.stringify(body);
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`);
    }
    socket.destroy();
  };
}
