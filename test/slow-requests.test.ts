import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer, token } from './support/server-harness.js';

/**
 * Slow requests are cut at server.requestTimeoutMs (issue 15 item 7): 300 connections trickling a
 * byte every 2 s were all still open at 45 s with requestTimeoutMs 15 s, because node's request
 * timeout was set after the server was created, next to a 60 s headers timeout that overrode it.
 * On a real socket: a body or headers trickled slower than the timeout allows are answered 408 and
 * the connection closed before they are complete; normal requests, and keep-alive connections
 * idle between requests, are unaffected. The assertions are on outcomes (how far the trickle got,
 * what came back), not on durations.
 */

const TIMEOUT_MS = 500;
const root = token('root');
let srv: Awaited<ReturnType<typeof buildTestServer>>;
let port: number;

beforeAll(async () => {
  srv = await buildTestServer({
    auth: { staticTokens: [root.entry] },
    policy: { rules: [{ principals: ['root'], namespaces: ['*'], actions: ['decode'] }] },
    server: { requestTimeoutMs: TIMEOUT_MS },
  });
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  port = (srv.app.server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await srv?.app.close();
});

/**
 * Send `head`, then `body` one byte every `everyMs` (a full trickle takes 40 × the timeout), and
 * report what the server answered and how much of the request had gone out when it closed.
 */
function trickle(head: string, body: string, everyMs = 50): Promise<{ answer: string; sent: number; total: number; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const request = head + body;
    let sent = 0;
    let answer = '';
    let finished = false;
    const startAt = head.endsWith('\r\n\r\n') ? head.length : 0;
    socket.on('connect', () => {
      if (startAt > 0) {
        socket.write(head);
        sent = head.length;
      }
      const timer = setInterval(() => {
        if (sent >= request.length || socket.destroyed) {
          clearInterval(timer);
          if (!finished) socket.end();
          return;
        }
        socket.write(request[sent]!);
        sent++;
      }, everyMs);
      socket.on('close', () => clearInterval(timer));
    });
    socket.on('data', (d) => (answer += String(d)));
    socket.on('error', (err) => {
      if (!finished) reject(err);
    });
    socket.on('close', () => {
      finished = true;
      resolve({ answer, sent, total: request.length, closedByServer: sent < request.length });
    });
  });
}

const headers = (length: number) =>
  `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Namespace: default\r\nAuthorization: Bearer ${root.value}\r\nContent-Length: ${length}\r\n\r\n`;

describe('slow requests are cut at server.requestTimeoutMs', () => {
  it('a trickled body: 408, connection closed before the body is complete', async () => {
    const body = `{"payloads":[${' '.repeat(400)}]}`;
    const r = await trickle(headers(body.length), body);
    expect(r.closedByServer, `the whole body went out (${r.sent} of ${r.total} bytes); answer: ${r.answer.slice(0, 120)}`).toBe(true);
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    // Answered like every other error, and logged.
    expect(JSON.parse(r.answer.slice(r.answer.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'REQUEST_TIMEOUT', message: `the request was not received in full within server.requestTimeoutMs (${TIMEOUT_MS} ms)` },
    });
    expect(srv.lines.some((l) => l.includes('"error":"REQUEST_TIMEOUT"'))).toBe(true);
  });

  it('trickled headers: 408, connection closed before the headers are complete', async () => {
    const head = `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(400)}\r\n`;
    const r = await trickle(head, '\r\n');
    expect(r.closedByServer).toBe(true);
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('normal requests are unaffected, including a keep-alive connection idle longer than the timeout', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: string) =>
      new Promise<{ status: number; reused: boolean; text: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/decode', method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-namespace': 'default', authorization: `Bearer ${root.value}` } },
          (res) => {
            let text = '';
            res.on('data', (d) => (text += String(d)));
            res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      const first = await post('{"payloads":[]}');
      expect(first).toMatchObject({ status: 200, reused: false });
      await new Promise((r) => setTimeout(r, TIMEOUT_MS * 1.5));
      const second = await post('{"payloads":[]}');
      expect(second).toMatchObject({ status: 200, reused: true });
      // A large body sent at full speed is not a slow one.
      const large = JSON.stringify({ payloads: Array.from({ length: 200 }, () => ({ metadata: {}, data: Buffer.alloc(2048, 7).toString('base64') })) });
      const third = await post(large);
      expect(third.status).toBe(200);
      expect(JSON.parse(third.text).payloads).toHaveLength(200);
    } finally {
      agent.destroy();
    }
  });
});

describe('other requests node refuses before routing', () => {
  it('headers over node\'s limit: 431, malformed HTTP: 400, both typed JSON', async () => {
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
        let answer = '';
        socket.on('data', (d) => (answer += String(d)));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(answer));
      });
    const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)).error.code).toBe('HEADERS_TOO_LARGE');
    const junk = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(junk).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(junk.slice(junk.indexOf('\r\n\r\n') + 4)).error).toMatchObject({ code: 'BAD_REQUEST', message: 'malformed HTTP request' });
  });
});
