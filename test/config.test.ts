import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyProvidersOptions } from '../src/config/key-providers.js';
import { loadConfig, validateConfig } from '../src/config/load.js';

const dir = mkdtempSync(path.join(tmpdir(), 'te-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('config', () => {
  it('defaults are safe: loopback, deny by default, local keyring, frozen', () => {
    const c = loadConfig();
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8888 });
    expect(c.policy.rules).toEqual([]);
    expect(c.cors.origins).toEqual([]);
    expect(c.keys.provider).toBe('local');
    expect(Object.isFrozen(c.server)).toBe(true);
  });

  it('reads YAML, then the environment, then overrides (CLI flags) on top', () => {
    const p = file('a.yaml', 'server:\n  port: 9000\n  host: 0.0.0.0\nlog:\n  level: warn\n');
    const c = loadConfig({ file: p, env: { TEMPORAL_ENVELOPE_PORT: '9100', TEMPORAL_ENVELOPE_CORS_ORIGINS: 'https://a.example, https://b.example' }, overrides: { server: { port: 9200 } } });
    expect(c.server.host).toBe('0.0.0.0');
    expect(c.server.port).toBe(9200);
    expect(c.log.level).toBe('warn');
    expect(c.cors.origins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('accepts the CLI names for the key provider settings too', () => {
    const c = loadConfig({ env: { TEMPORAL_ENVELOPE_PROVIDER: 'aws-kms', TEMPORAL_ENVELOPE_KEY_CONFIG: '/etc/te/kms-keys.json' } });
    expect(c.keys.provider).toBe('aws-kms');
    expect(c.keys.awsKms?.keyConfigFile).toBe('/etc/te/kms-keys.json');
  });

  it('keys.shredStore: from the file or TEMPORAL_ENVELOPE_SHRED_STORE, mapped into the assembler\'s options', () => {
    const p = file('shred.yaml', 'keys:\n  shredStore:\n    path: /var/lib/te/shred-store\n');
    const c = loadConfig({ file: p });
    expect(c.keys.shredStore).toEqual({ path: '/var/lib/te/shred-store', watchIntervalMs: 2000 });
    expect(keyProvidersOptions(c.keys)).toMatchObject({ provider: 'local', shredStore: '/var/lib/te/shred-store', watchIntervalMs: 2000 });
    expect(loadConfig({ env: { TEMPORAL_ENVELOPE_SHRED_STORE: '/srv/shreds' } }).keys.shredStore?.path).toBe('/srv/shreds');
    expect(keyProvidersOptions(loadConfig().keys).shredStore).toBeUndefined();
    expect(() => loadConfig({ file: file('shred-bad.yaml', 'keys:\n  shredStore: {}\n') })).toThrow(/keys\.shredStore\.path/);
  });

  it.each([
    ['server:\n  port: 70000\n', 'server.port'],
    ['cors:\n  origins: ["*"]\n', 'cors.origins.0: expected an exact origin'],
    ['auth:\n  staticTokens:\n    - principal: a\n      sha256: abc\n', 'auth.staticTokens.0.sha256'],
    ['policy:\n  rules:\n    - namespaces: [default]\n      actions: [decode]\n', 'a rule needs "principals" or "groups"'],
    ['policy:\n  rules:\n    - principals: [a]\n      namespaces: [default]\n      actions: [delete]\n', 'policy.rules.0.actions.0'],
    ['keys:\n  provider: aws-kms\n', 'keys.awsKms: provider aws-kms needs "keys" or "keyConfigFile"'],
    ['serverr:\n  port: 1\n', 'Unrecognized key: "serverr"'],
    ['- just\n- a list\n', 'expected a mapping at the top level'],
    ['server: [unclosed\n', 'is not valid YAML/JSON'],
  ])('rejects %j with a message naming %s', (yaml, expected) => {
    const p = file(`bad-${Math.random().toString(36).slice(2)}.yaml`, yaml);
    expect(() => loadConfig({ file: p })).toThrowError(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining(expected) }));
  });

  it('names a bad environment variable and an unreadable file', () => {
    expect(() => loadConfig({ env: { TEMPORAL_ENVELOPE_PORT: 'eighty' } })).toThrow(/TEMPORAL_ENVELOPE_PORT: expected a whole number, got "eighty"/);
    expect(() => loadConfig({ env: { TEMPORAL_ENVELOPE_LOG_PRETTY: 'yes' } })).toThrow(/TEMPORAL_ENVELOPE_LOG_PRETTY: expected true or false/);
    expect(() => loadConfig({ file: path.join(dir, 'missing.yaml') })).toThrow(/missing\.yaml cannot be read: ENOENT/);
  });

  it('validateConfig reports every bad field at once', () => {
    expect(() => validateConfig({ server: { port: -1, bodyLimitBytes: 0 } })).toThrow(/server\.port: .*; server\.bodyLimitBytes: /);
  });
});

describe('docs/codec-server.example.yaml', () => {
  it('is a valid config whose demo tokens match their hashes', async () => {
    const { sha256Hex } = await import('../src/config/token-hash.js');
    const c = loadConfig({ file: path.join(import.meta.dirname, '..', 'docs', 'codec-server.example.yaml') });
    expect(c.auth.staticTokens.map((t) => t.sha256)).toEqual([
      `sha256:${sha256Hex('demo-alice-token-0123456789abcdef')}`,
      `sha256:${sha256Hex('demo-bob-token-0123456789abcdef0')}`,
    ]);
    expect(c.policy.rules).toHaveLength(2);
  });
});
