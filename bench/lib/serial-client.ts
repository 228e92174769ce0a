import { connect, type Socket } from 'node:net';

/**
 * One request at a time on one kept-alive connection, as the `temporal` CLI decodes: the latency a
 * single caller sees. A raw socket with the request pre-built, so the client adds as little as it
 * can (node's http client costs about as much as the server being measured); the response is read
 * until its Content-Length is complete. Returns each request's milliseconds.
 */
export async function serialLatencies(url: string, path: string, headers: Record<string, string>, body: string, count: number): Promise<number[]> {
  const { hostname, port } = new URL(url);
  const bytes = Buffer.from(body);
  const head = [`POST ${path} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: keep-alive', `content-length: ${bytes.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  const request = Buffer.concat([Buffer.from(`${head}\r\n\r\n`), bytes]);
  const socket: Socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      const status = await new Promise<number>((resolve, reject) => {
        let buf: Buffer = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, d]) : d;
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const m = /content-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
          if (!m) return done(new Error('response without content-length'));
          if (buf.length >= end + 4 + Number(m[1])) done(undefined, Number(buf.subarray(9, 12).toString()));
        };
        const done = (err?: Error, s?: number) => {
          socket.off('data', onData).off('error', done);
          if (err) reject(err);
          else resolve(s!);
        };
        socket.on('data', onData).on('error', done);
        socket.write(request);
      });
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (status !== 200) throw new Error(`serial request got ${status}`);
    }
  } finally {
    socket.destroy();
  }
  return out;
}
