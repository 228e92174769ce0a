import { describe, expect, it } from 'vitest';
import { captureIo } from './cli-support/capture-io.js';
import { runCli } from '../src/cli/run.js';
import { buildTestServer } from './support/server-harness.js';

describe('tokens new', () => {
  it('prints a token once and a config entry that authenticates it by hash only', async () => {
    const io = captureIo();
    expect(await runCli(['tokens', 'new', '--principal', 'alice', '--group', 'sre', '--json'], io)).toBe(0);
    const { token, entry } = JSON.parse(io.out()) as { token: string; entry: { principal: string; sha256: string; groups: string[] } };
    expect(token).toMatch(/^te_[A-Za-z0-9_-]{43}$/);
    expect(entry).toMatchObject({ principal: 'alice', groups: ['sre'] });
    expect(JSON.stringify(entry)).not.toContain(token);

    const srv = await buildTestServer({
      auth: { staticTokens: [entry] },
      policy: { rules: [{ groups: ['sre'], namespaces: ['default'], actions: ['decode'] }] },
    });
    const call = (t: string) =>
      srv.app.inject({ method: 'POST', url: '/decode', payload: { payloads: [] }, headers: { authorization: `Bearer ${t}`, 'x-namespace': 'default' } });
    expect((await call(token)).statusCode).toBe(200);
    expect((await call(`${token}x`)).statusCode).toBe(401);
    await srv.app.close();
  });

  it('makes a different token each time, and names a missing principal', async () => {
    const a = captureIo();
    const b = captureIo();
    await runCli(['tokens', 'new', '--principal', 'x', '--json'], a);
    await runCli(['tokens', 'new', '--principal', 'x', '--json'], b);
    expect(JSON.parse(a.out()).token).not.toBe(JSON.parse(b.out()).token);
    const bad = captureIo();
    expect(await runCli(['tokens', 'new'], bad)).toBe(2);
    expect(bad.err()).toContain("required option '--principal <name>' not specified");
  });
});
