import { chmodSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../keys/keyring-file.js';
import { serve } from '../src/server/index.js';

/**
 * What `temporal-envelope serve` in dev mode tells the operator. The dev token and the curl line
 * come only from a server that is listening: printed before a failed start (port in use, a keyring
 * others can read), they sent people to a server that was not there. And one host name throughout:
 * the printed URLs, the login page and the CORS origin all say localhost, as the dev server's UI does.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'te-serve-start-'));
const devEnv = (keyring: string, extra: NodeJS.ProcessEnv = {}) => ({ TEMPORAL_ENVELOPE_KEYRING: keyring, TEMPORAL_ENVELOPE_LOG_LEVEL: 'silent', ...extra });

async function occupiedPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  return { port: (blocker.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => blocker.close(() => r())) };
}

describe('serve in dev mode', () => {
  it('prints no token when the port is in use, and says which port and what to do', async () => {
    const blocker = await occupiedPort();
    const printed: string[] = [];
    try {
      await expect(serve({ host: '127.0.0.1', port: blocker.port, env: devEnv(path.join(dir, 'busy.json')), print: (l) => printed.push(l), handleSignals: false })).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining(`127.0.0.1:${blocker.port} is already in use`),
      });
    } finally {
      await blocker.close();
    }
    expect(printed).toEqual([]);
  });

  it('prints no token when the keyring is refused (readable by others)', async () => {
    const ring = path.join(dir, 'open.json');
    await createKeyring(ring);
    chmodSync(ring, 0o644);
    const printed: string[] = [];
    await expect(serve({ host: '127.0.0.1', port: 0, env: devEnv(ring), print: (l) => printed.push(l), handleSignals: false })).rejects.toMatchObject({ code: 'KEYRING_ERROR' });
    expect(printed).toEqual([]);
  });

  it('once listening, prints the token and localhost URLs only, and allows the UI at localhost:8233', async () => {
    const printed: string[] = [];
    const srv = await serve({ host: '127.0.0.1', port: 0, env: devEnv(path.join(dir, 'ok.json')), print: (l) => printed.push(l), handleSignals: false });
    try {
      const port = new URL(srv.url).port;
      expect(srv.publicUrl).toBe(`http://localhost:${port}`);
      const text = printed.join('\n');
      const token = /Dev token \(shown once, not stored\): (te_dev_\S+)/.exec(text)?.[1];
      expect(token).toBeDefined();
      expect(text).toContain(`sign in at http://localhost:${port}/login`);
      expect(text).toContain(`--codec-endpoint http://localhost:${port} --codec-auth "Bearer ${token}"`);
      expect(text).toContain(`http://localhost:${port}/decode`);
      expect(text).not.toContain('127.0.0.1');
      expect(srv.config.cors.origins).toEqual(['http://localhost:8233']);
      const res = await fetch(`${srv.url}/decode`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-namespace': 'default' }, body: '{"payloads":[]}' });
      expect(res.status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('lets TEMPORAL_ENVELOPE_CORS_ORIGINS replace the dev CORS origin (a UI on another port)', async () => {
    const srv = await serve({ host: '127.0.0.1', port: 0, env: devEnv(path.join(dir, 'cors.json'), { TEMPORAL_ENVELOPE_CORS_ORIGINS: 'http://localhost:18233', TEMPORAL_ENVELOPE_DEV_TOKEN: 'dev-token-0123456789abcdef' }), handleSignals: false });
    try {
      expect(srv.config.cors.origins).toEqual(['http://localhost:18233']);
    } finally {
      await srv.close();
    }
  });
});
