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
    // The plain { path } form (from before there were other stores) is the file store.
    expect(c.keys.shredStore).toEqual({ type: 'file', path: '/var/lib/te/shred-store', watchIntervalMs: 2000 });
    expect(keyProvidersOptions(c.keys)).toMatchObject({ provider: 'local', shredStore: { type: 'file', path: '/var/lib/te/shred-store' }, watchIntervalMs: 2000 });
    expect(loadConfig({ env: { TEMPORAL_ENVELOPE_SHRED_STORE: '/srv/shreds' } }).keys.shredStore).toEqual({ type: 'file', path: '/srv/shreds', watchIntervalMs: 2000 });
    expect(keyProvidersOptions(loadConfig().keys).shredStore).toBeUndefined();
    expect(() => loadConfig({ file: file('shred-bad.yaml', 'keys:\n  shredStore: {}\n') })).toThrow(/keys\.shredStore\.path/);
  });

  it('keys.shredStore: DynamoDB and PostgreSQL, from the file or as a URL in TEMPORAL_ENVELOPE_SHRED_STORE', () => {
    const ddb = loadConfig({ file: file('ddb.yaml', 'keys:\n  shredStore:\n    type: dynamodb\n    table: te-shred\n    region: eu-west-1\n    watchIntervalMs: 500\n') });
    expect(ddb.keys.shredStore).toEqual({ type: 'dynamodb', table: 'te-shred', region: 'eu-west-1', watchIntervalMs: 500 });
    // The watch interval is the server's; the assembler gets the store's own options.
    expect(keyProvidersOptions(ddb.keys).shredStore).toEqual({ type: 'dynamodb', table: 'te-shred', region: 'eu-west-1' });

    const secretFile = file('pg-url', 'postgres://te_app:pw@db.internal:5432/te\n');
    const pgFile = loadConfig({ file: file('pg.yaml', `keys:\n  shredStore:\n    type: postgres\n    connectionStringFile: ${secretFile}\n    schema: te_shred\n    poolSize: 8\n`) });
    expect(pgFile.keys.shredStore).toEqual({ type: 'postgres', connectionStringFile: secretFile, schema: 'te_shred', poolSize: 8, watchIntervalMs: 2000 });

    const env = (value: string, f?: string) => loadConfig({ ...(f ? { file: f } : {}), env: { TEMPORAL_ENVELOPE_SHRED_STORE: value, AWS_REGION: 'us-east-2' } }).keys.shredStore;
    expect(env('dynamodb://Te-Shred_1?region=eu-west-1&endpoint=http://127.0.0.1:5000')).toEqual({
      type: 'dynamodb',
      table: 'Te-Shred_1',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
      watchIntervalMs: 2000,
    });
    expect(env('dynamodb://te-shred')).toMatchObject({ region: 'us-east-2' }); // AWS_REGION fills in
    // schema= and poolSize= are ours: taken out of the URL the driver sees.
    expect(env('postgresql://te_app@db.internal/te?schema=te_shred&poolSize=2&sslmode=require')).toEqual({
      type: 'postgres',
      connectionString: 'postgresql://te_app@db.internal/te?sslmode=require',
      schema: 'te_shred',
      poolSize: 2,
      watchIntervalMs: 2000,
    });
    // The variable says where; the file may still say how (same kind of store), and a URL replaces a URL file.
    expect(env('postgres://te_app@other/te', path.join(dir, 'pg.yaml'))).toEqual({ type: 'postgres', connectionString: 'postgres://te_app@other/te', schema: 'te_shred', poolSize: 8, watchIntervalMs: 2000 });
  });

  it.each([
    ['keys:\n  shredStore:\n    type: dynamodb\n    region: eu-west-1\n', 'keys.shredStore.table'],
    ['keys:\n  shredStore:\n    type: dynamodb\n    table: x\n    region: eu-west-1\n', 'keys.shredStore.table: expected a DynamoDB table name'],
    ['keys:\n  shredStore:\n    type: dynamodb\n    table: te-shred\n', 'keys.shredStore.region'],
    ['keys:\n  shredStore:\n    type: dynamodb\n    table: te-shred\n    region: r\n    endpoint: not a url\n', 'keys.shredStore.endpoint'],
    ['keys:\n  shredStore:\n    type: postgres\n', 'keys.shredStore.connectionString: a postgres shred store needs exactly one of'],
    ['keys:\n  shredStore:\n    type: postgres\n    connectionString: postgres://a@b/c\n    connectionStringFile: /x\n', 'needs exactly one of'],
    ['keys:\n  shredStore:\n    type: postgres\n    connectionString: mysql://a@b/c\n', 'keys.shredStore.connectionString: expected a postgres:// or postgresql:// URL'],
    ['keys:\n  shredStore:\n    type: postgres\n    connectionString: postgres://a@b/c\n    schema: Robert"); DROP\n', 'keys.shredStore.schema: expected a lowercase SQL identifier'],
    ['keys:\n  shredStore:\n    type: postgres\n    connectionString: postgres://a@b/c\n    poolSize: 0\n', 'keys.shredStore.poolSize'],
    ['keys:\n  shredStore:\n    type: redis\n    path: /x\n', 'keys.shredStore.type'],
    ['keys:\n  shredStore:\n    type: file\n    path: /x\n    table: t\n', 'Unrecognized key: "table"'],
  ])('rejects the shred store %j with a message naming %s', (yaml, expected) => {
    const p = file(`bad-store-${Math.random().toString(36).slice(2)}.yaml`, yaml);
    expect(() => loadConfig({ file: p })).toThrowError(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining(expected) }));
  });

  it('names TEMPORAL_ENVELOPE_SHRED_STORE when its location is wrong, without echoing a password', () => {
    const bad = (value: string) => () => loadConfig({ env: { TEMPORAL_ENVELOPE_SHRED_STORE: value } });
    expect(bad('dynamodb://te-shred')).toThrow(/TEMPORAL_ENVELOPE_SHRED_STORE: .*needs a region/);
    expect(bad('dynamodb://te-shred?region=r&tabel=x')).toThrow(/unknown parameter "tabel"/);
    expect(bad('redis://u:hunter2@host/0')).toThrow(/unknown scheme "redis:\/\/"/);
    expect(bad('redis://u:hunter2@host/0')).not.toThrow(/hunter2/);
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
