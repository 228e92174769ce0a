import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from './cli-support/moto.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import type { VerifySummary } from './support/v2-readers.js';

/**
 * The vector tools with branch keys (format v2): `ts-vectors.ts generate --hierarchy branch` seals
 * every vector in format v2, local-keyring and KMS-wrapped branch keys (moto on loopback), and the
 * TypeScript tool verifies it. The Python codec reads version 2: it opens every vector of that file
 * and rejects every invalid one with its code, and its own `generate --hierarchy branch` file opens
 * in TypeScript the same way. The Go codec's check is in cross-language-go.test.ts, beside its build.
 */

const run = promisify(execFile);
const TS_TOOL = path.join(REPO_ROOT, 'test', 'cross-language', 'ts-vectors.ts');
const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const region = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto's placeholders
const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });

let dir: string;
let moto: Moto;
let kmsKey: string;
let file: string;
let pythonFile: string;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = mkdtempSync(path.join(tmpdir(), 'te-cross-v2-'));
  moto = await startMoto();
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kmsKey = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope cross-language v2' }))).KeyMetadata!.Arn!;
  admin.destroy();
  file = path.join(dir, 'branch.json');
  await run(process.execPath, ['--import', 'tsx', TS_TOOL, 'generate', '--out', file, '--hierarchy', 'branch', '--kms-key', kmsKey, '--kms-endpoint', moto.endpoint, '--region', region], { cwd: REPO_ROOT, env: env() });
  pythonFile = path.join(dir, 'python-branch.json');
  await run(PYTHON, ['-m', 'temporal_envelope.vectors', 'generate', '--out', pythonFile, '--hierarchy', 'branch', '--kms-key', kmsKey, '--kms-endpoint', moto.endpoint, '--region', region], { cwd: REPO_ROOT, env: env() });
});
afterAll(async () => {
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function verify(command: string, args: string[], vectors = file): Promise<VerifySummary> {
  const out = await run(command, [...args, 'verify', vectors, '--kms-endpoint', moto.endpoint, '--region', region], { cwd: REPO_ROOT, env: env() }).catch((err: { stdout?: string; stderr?: string }) => {
    // verify exits 1 when it has failures; its summary is still the last stdout line.
    if (!err.stdout) throw new Error(`${command} verify printed nothing: ${err.stderr ?? ''}`);
    return { stdout: err.stdout };
  });
  return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as VerifySummary;
}

describe('cross-language vectors with branch keys (format v2)', () => {
  it('generate --hierarchy branch writes format v2 only, local and KMS-wrapped, and names the hierarchy', () => {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { hierarchy: string; valid: { provider: string; sealed: { metadata: Record<string, string> } }[] };
    expect(doc.hierarchy).toBe('branch');
    expect(new Set(doc.valid.map((v) => v.provider))).toEqual(new Set(['local', 'aws-kms']));
    for (const v of doc.valid) {
      expect(Buffer.from(v.sealed.metadata['envelope-version']!, 'base64').toString()).toBe('2');
      expect(v.sealed.metadata['envelope-branch-key']).toBeDefined();
      expect(v.sealed.metadata['envelope-dek']).toBeUndefined();
    }
  });

  it('the TypeScript tool opens every v2 vector and rejects the invalid ones with their codes', async () => {
    const summary = await verify(process.execPath, ['--import', 'tsx', TS_TOOL]);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { valid: unknown[]; invalid: unknown[] };
    expect(summary).toEqual({ generator: 'typescript', verifier: 'typescript', opened: doc.valid.length, rejected: doc.invalid.length, failures: [] });
  });

  it('the Python codec opens every v2 vector TypeScript sealed, local and KMS-wrapped, and rejects the invalid ones with the same codes', async () => {
    const summary = await verify(PYTHON, ['-m', 'temporal_envelope.vectors']);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { valid: unknown[]; invalid: unknown[] };
    expect(summary).toEqual({ generator: 'typescript', verifier: 'python', opened: doc.valid.length, rejected: doc.invalid.length, failures: [] });
  });

  it('the Python tool with --hierarchy branch writes format v2 only, local and KMS-wrapped, with the invalid vectors of version 2', () => {
    const doc = JSON.parse(readFileSync(pythonFile, 'utf8')) as { generator: string; hierarchy: string; valid: { provider: string; sealed: { metadata: Record<string, string> } }[]; invalid: { name: string; code: string }[] };
    expect(doc).toMatchObject({ generator: 'python', hierarchy: 'branch' });
    expect(new Set(doc.valid.map((v) => v.provider))).toEqual(new Set(['local', 'aws-kms']));
    for (const v of doc.valid) {
      expect(Buffer.from(v.sealed.metadata['envelope-version']!, 'base64').toString()).toBe('2');
      expect(v.sealed.metadata['envelope-branch-key']).toBeDefined();
      expect(v.sealed.metadata['envelope-dek']).toBeUndefined();
    }
    // The table in test/cross-language/README.md, "Branch keys (format v2)".
    expect(doc.invalid.map((v) => [v.name, v.code])).toEqual(
      expect.arrayContaining([
        ['wrapped branch key altered', 'TAMPERED_CIPHERTEXT'],
        ['salt altered', 'TAMPERED_CIPHERTEXT'],
        ['wrapped branch key missing', 'MALFORMED_PAYLOAD'],
        ['salt missing', 'MALFORMED_PAYLOAD'],
        ['salt of 16 bytes', 'MALFORMED_PAYLOAD'],
        ['version relabelled 2 to 1', 'MALFORMED_PAYLOAD'],
        ['version 2 carrying an envelope-dek', 'UNSUPPORTED_FORMAT'],
        ['KMS-wrapped branch key altered', 'TAMPERED_CIPHERTEXT'],
      ]),
    );
  });

  it('the TypeScript tool opens every v2 vector Python sealed, local and KMS-wrapped, and rejects the invalid ones with the same codes', async () => {
    const summary = await verify(process.execPath, ['--import', 'tsx', TS_TOOL], pythonFile);
    const doc = JSON.parse(readFileSync(pythonFile, 'utf8')) as { valid: unknown[]; invalid: unknown[] };
    expect(summary).toEqual({ generator: 'python', verifier: 'typescript', opened: doc.valid.length, rejected: doc.invalid.length, failures: [] });
  });
});
