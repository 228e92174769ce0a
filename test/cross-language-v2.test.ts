import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from './cli-support/moto.js';
import { REPO_ROOT } from './cli-support/run-cli.js';
import { expectOpensV2OrRefusesUnsupported, type VerifySummary } from './support/v2-readers.js';

/**
 * The vector tools with branch keys (format v2): `ts-vectors.ts generate --hierarchy branch` seals
 * every vector in format v2, local-keyring and KMS-wrapped branch keys (moto on loopback), and the
 * TypeScript tool verifies it. The Python codec reads the same file: today it knows only version 1
 * and must refuse every payload as UNSUPPORTED_FORMAT; once its v2 lands it must open them (see
 * test/support/v2-readers.ts). The Go codec's check is in cross-language-go.test.ts, beside its build.
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

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = mkdtempSync(path.join(tmpdir(), 'te-cross-v2-'));
  moto = await startMoto();
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kmsKey = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope cross-language v2' }))).KeyMetadata!.Arn!;
  admin.destroy();
  file = path.join(dir, 'branch.json');
  await run(process.execPath, ['--import', 'tsx', TS_TOOL, 'generate', '--out', file, '--hierarchy', 'branch', '--kms-key', kmsKey, '--kms-endpoint', moto.endpoint, '--region', region], { cwd: REPO_ROOT, env: env() });
});
afterAll(async () => {
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function verify(command: string, args: string[]): Promise<VerifySummary> {
  const out = await run(command, [...args, 'verify', file, '--kms-endpoint', moto.endpoint, '--region', region], { cwd: REPO_ROOT, env: env() }).catch((err: { stdout?: string; stderr?: string }) => {
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

  it('the Python codec opens them, or (version 1 only) refuses every one as UNSUPPORTED_FORMAT', async () => {
    const summary = await verify(PYTHON, ['-m', 'temporal_envelope.vectors']);
    expect(summary.verifier).toBe('python');
    expectOpensV2OrRefusesUnsupported(summary, file);
  });
});
