import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from './cli-support/moto.js';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * One wire format, two codecs: a vector file the TypeScript tool seals opens in the Go tool, and
 * the other way round, with local-keyring and KMS-wrapped data keys (moto on loopback), invalid
 * vectors failing with the same codes (test/cross-language/README.md), in format v1 and in format
 * v2 (`--hierarchy branch`: branch keys wrapped by the local keyring and by KMS). The Go tool is
 * built from codecs/go; a missing `go` is a failure, never a skip.
 */

const run = promisify(execFile);
const GO_MODULE = path.join(REPO_ROOT, 'codecs', 'go');
const TS_TOOL = path.join(REPO_ROOT, 'test', 'cross-language', 'ts-vectors.ts');
const region = 'us-east-1';
// moto accepts any credentials; placeholders, never real ones.
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

interface Summary {
  generator: string;
  verifier: string;
  opened: number;
  rejected: number;
  failures: string[];
}

let dir: string;
let goTool: string;
let moto: Moto;
let kmsKey: string;

// A first build compiles the Temporal SDK, gRPC and the AWS SDK: 2 min 44 s with a cold Go build
// cache on a busy 2-core machine. Later builds (and `npm run test:go`) reuse the cache.
const GO_BUILD_TIMEOUT_MS = 600_000;

beforeAll(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  dir = mkdtempSync(path.join(tmpdir(), 'te-cross-go-'));
  goTool = path.join(dir, 'envelope-vectors');
  try {
    await run('go', ['build', '-o', goTool, './cmd/envelope-vectors'], { cwd: GO_MODULE });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the Go toolchain (`go`) is not installed: the Go codec cannot be built or checked');
    throw new Error(`go build ./cmd/envelope-vectors failed: ${e.stderr ?? e.message}`);
  }
  moto = await startMoto();
  const admin = new KMSClient({ region, endpoint: moto.endpoint, credentials });
  kmsKey = (await admin.send(new CreateKeyCommand({ Description: 'temporal-envelope cross-language test' }))).KeyMetadata!.Arn!;
  admin.destroy();
}, GO_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const kmsArgs = () => ['--kms-endpoint', moto.endpoint, '--region', region];
const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });

async function tsTool(args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, ['--import', 'tsx', TS_TOOL, ...args], { cwd: REPO_ROOT, env: env() });
}

async function verifyWith(tool: 'go' | 'typescript', file: string): Promise<Summary> {
  const args = ['verify', file, ...kmsArgs()];
  try {
    const { stdout } = tool === 'go' ? await run(goTool, args, { env: env() }) : await tsTool(args);
    return JSON.parse(stdout) as Summary;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${tool} verify failed: ${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

function counts(file: string): { valid: number; invalid: number; kmsValid: number; v2Valid: number; hierarchy: string | undefined; invalidNames: string[] } {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as {
    hierarchy?: string;
    valid: { provider: string; sealed: { metadata: Record<string, string> } }[];
    invalid: { name: string }[];
  };
  const isV2 = (m: Record<string, string>) => Buffer.from(m['envelope-version'] ?? '', 'base64').toString() === '2' && m['envelope-branch-key'] !== undefined && m['envelope-dek-salt'] !== undefined && m['envelope-dek'] === undefined;
  return {
    valid: doc.valid.length,
    invalid: doc.invalid.length,
    kmsValid: doc.valid.filter((v) => v.provider === 'aws-kms').length,
    v2Valid: doc.valid.filter((v) => isV2(v.sealed.metadata)).length,
    hierarchy: doc.hierarchy,
    invalidNames: doc.invalid.map((v) => v.name),
  };
}

describe('Go and TypeScript codecs read each other', () => {
  it('the Go tool opens every vector the TypeScript tool sealed (KMS-wrapped too) and rejects the invalid ones with the same codes', async () => {
    const file = path.join(dir, 'from-typescript.json');
    await tsTool(['generate', '--out', file, '--kms-key', kmsKey, ...kmsArgs()]);
    const n = counts(file);
    expect(n.kmsValid).toBeGreaterThan(0);
    const summary = await verifyWith('go', file);
    expect(summary).toEqual({ generator: 'typescript', verifier: 'go', opened: n.valid, rejected: n.invalid, failures: [] });
  });

  it('the TypeScript tool opens every vector the Go tool sealed (KMS-wrapped too) and rejects the invalid ones with the same codes', async () => {
    const file = path.join(dir, 'from-go.json');
    await run(goTool, ['generate', '--out', file, '--kms-key', kmsKey, ...kmsArgs()], { env: env() });
    const n = counts(file);
    expect(n.kmsValid).toBeGreaterThan(0);
    const summary = await verifyWith('typescript', file);
    expect(summary).toEqual({ generator: 'go', verifier: 'typescript', opened: n.valid, rejected: n.invalid, failures: [] });
    // Case for case: both tools write the same vectors, name for name (ids, schedule runs and scope options included).
    const names = (f: string) => {
      const doc = JSON.parse(readFileSync(f, 'utf8')) as { valid: { name: string }[]; invalid: { name: string }[] };
      return { valid: doc.valid.map((v) => v.name), invalid: doc.invalid.map((v) => v.name) };
    };
    expect(names(file)).toEqual(names(path.join(dir, 'from-typescript.json')));
  });

  it('branch keys (format v2): the Go tool opens every vector the TypeScript tool sealed with --hierarchy branch (KMS-wrapped branch keys too) and rejects the invalid ones with the same codes', async () => {
    const file = path.join(dir, 'from-typescript-branch.json');
    await tsTool(['generate', '--out', file, '--hierarchy', 'branch', '--kms-key', kmsKey, ...kmsArgs()]);
    const n = counts(file);
    expect(n).toMatchObject({ v2Valid: n.valid, hierarchy: 'branch' });
    expect(n.kmsValid).toBeGreaterThan(0);
    expect(n.invalidNames).toEqual(expect.arrayContaining(['wrapped branch key altered', 'salt altered', 'version 2 carrying an envelope-dek', 'KMS-wrapped branch key altered']));
    const summary = await verifyWith('go', file);
    expect(summary).toEqual({ generator: 'typescript', verifier: 'go', opened: n.valid, rejected: n.invalid, failures: [] });
  });

  it('branch keys (format v2): the TypeScript tool opens every vector the Go tool sealed with --hierarchy branch (KMS-wrapped branch keys too) and rejects the invalid ones with the same codes', async () => {
    const file = path.join(dir, 'from-go-branch.json');
    await run(goTool, ['generate', '--out', file, '--hierarchy', 'branch', '--kms-key', kmsKey, ...kmsArgs()], { env: env() });
    const n = counts(file);
    expect(n).toMatchObject({ v2Valid: n.valid, hierarchy: 'branch' });
    expect(n.kmsValid).toBeGreaterThan(0);
    expect(n.invalidNames).toEqual(expect.arrayContaining(['wrapped branch key altered', 'salt altered', 'version 2 carrying an envelope-dek', 'KMS-wrapped branch key altered']));
    const summary = await verifyWith('typescript', file);
    expect(summary).toEqual({ generator: 'go', verifier: 'typescript', opened: n.valid, rejected: n.invalid, failures: [] });
  });
});
