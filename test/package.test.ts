import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * The package as users get it: `npm pack` of a clean checkout (no dist/: prepack builds it),
 * installed from the tarball into an empty project beside @temporalio/worker and @temporalio/client,
 * then an ES module consumer and a CommonJS one type-checked with `module: nodenext` (TypeScript
 * 5.8+ compiles the CommonJS file's imports to require(), which loads this ESM-only package on
 * Node 20.19+), each sealing and opening a payload, and the installed `temporal-envelope` bin run.
 * Dependencies come from the npm cache (`--prefer-offline`); the whole takes about a minute.
 */

const run = promisify(execFile);
const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, { types: string; default: string }>;
};
const installed = (name: string) => (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
let tarball: string;
const timings: Record<string, number> = {};

/** npm as a user runs it: without the npm_lifecycle/npm_package variables `npm test` sets for itself. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_lifecycle') && !k.startsWith('npm_package'))) as NodeJS.ProcessEnv;
}

async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[step] = Math.round(performance.now() - start) / 1000;
  }
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'te-package-'));
});
afterAll(() => {
  console.log(`package test timings (s): ${JSON.stringify(timings)}`);
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('npm pack of a clean checkout builds it (prepack) and ships only what users need', async () => {
    // A clean checkout: the files git tracks or would track, no dist/; node_modules linked for the build.
    const checkout = path.join(work, 'checkout');
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    for (const file of stdout.split('\0').filter(Boolean)) {
      mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
      cpSync(path.join(REPO_ROOT, file), path.join(checkout, file));
    }
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
    const packed = await timed('pack', () => run('npm', ['pack', '--json', '--pack-destination', work], { cwd: checkout, env: npmEnv(), maxBuffer: 16 * 1024 * 1024 }));
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, info!.filename);
    const files = info!.files.map((f) => f.path);

    const allowed = /^(dist\/(primitives|keys|codecs|src)\/.+\.(js|d\.ts)|codecs\/failure-converter\.(cjs|d\.cts)|README\.md|SECURITY\.md|CHANGELOG\.md|LICENSE|package\.json)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || /(^|\/)test\//.test(f))).toEqual([]);
    const targets = [...Object.values(pkg.exports).flatMap((e) => [e.types, e.default]), ...Object.values(pkg.bin)].map((t) => t.replace(/^\.\//, ''));
    for (const t of targets) expect(files, t).toContain(t);
    const shipped = JSON.parse(readFileSync(path.join(checkout, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(shipped.dependencies)).not.toContain('tsx');
    expect(Object.keys(shipped.dependencies)).not.toContain('pino-pretty');
  }, 180_000);

  it('installs beside @temporalio/worker and client; ESM and CommonJS consumers type-check (nodenext) and round-trip; the bin runs', async () => {
    expect(tarball, 'the pack test above must pass first').toBeDefined();
    const project = path.join(work, 'consumer');
    mkdirSync(path.join(project, 'esm'), { recursive: true });
    mkdirSync(path.join(project, 'cjs'), { recursive: true });
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await timed('install', () =>
      run(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@temporalio/worker@${installed('@temporalio/worker')}`, `@temporalio/client@${installed('@temporalio/client')}`, `@types/node@${installed('@types/node')}`],
        { cwd: project, env: npmEnv(), maxBuffer: 16 * 1024 * 1024 },
      ),
    );

    writeFileSync(
      path.join(project, 'esm', 'consumer.ts'),
      `import { createRequire } from 'node:module';
import type { ClientOptions } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import { EnvelopeCodec, LocalKeyring, isEnvelopeError, makeScope, openKeyProviders, type Scope } from 'temporal-envelope';
import { newKeyringDocument, type KeyProvidersOptions } from 'temporal-envelope/keys';
import type { ServerConfig } from 'temporal-envelope/server';

const codec = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(newKeyringDocument()) });
const failureConverterPath = createRequire(import.meta.url).resolve('temporal-envelope/failure-converter');
// The SDK takes the codec and the failure converter as they are, in clients and workers.
const dataConverter = { payloadCodecs: [codec], failureConverterPath };
const clientOptions: ClientOptions = { dataConverter };
const workerConverter: WorkerOptions['dataConverter'] = dataConverter;
const keys: KeyProvidersOptions = { provider: 'aws-kms', awsKms: { keyConfigFile: '/etc/te/kms-keys.json' } };
const port: ServerConfig['server']['port'] = 8888;
void [clientOptions, workerConverter, keys, port, openKeyProviders];

const scope: Scope = makeScope('default', 'pkg-esm');
const context = { type: 'workflow' as const, namespace: scope.namespace, workflowId: 'pkg-esm' };
const utf8 = new TextEncoder();
const [sealed] = await codec.encode([{ metadata: { encoding: utf8.encode('json/plain') }, data: utf8.encode('"from an ES module"') }], context);
const [opened] = await codec.decode([sealed!], context);
const wrong = await codec.decode([sealed!], { ...context, workflowId: 'other' }).catch((e: unknown) => e);
console.log(JSON.stringify({ encoding: new TextDecoder().decode(sealed!.metadata!.encoding!), opened: new TextDecoder().decode(opened!.data!), wrongScope: isEnvelopeError(wrong) ? wrong.code : 'none', failureConverterPath }));
`,
    );
    writeFileSync(
      path.join(project, 'cjs', 'consumer.cts'),
      `import type { PayloadCodec } from '@temporalio/common';
import { EnvelopeCodec, LocalKeyring, isEnvelopeError } from 'temporal-envelope';
import { newKeyringDocument } from 'temporal-envelope/keys';

async function main(): Promise<void> {
  const codec: PayloadCodec = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(newKeyringDocument()) });
  const context = { type: 'workflow' as const, namespace: 'default', workflowId: 'pkg-cjs' };
  const utf8 = new TextEncoder();
  const [sealed] = await codec.encode([{ metadata: { encoding: utf8.encode('json/plain') }, data: utf8.encode('"from CommonJS"') }], context);
  const [opened] = await codec.decode([sealed!], context);
  const wrong = await codec.decode([sealed!], { ...context, workflowId: 'other' }).catch((e: unknown) => e);
  const failureConverterPath = require.resolve('temporal-envelope/failure-converter');
  console.log(JSON.stringify({ encoding: new TextDecoder().decode(sealed!.metadata!.encoding!), opened: new TextDecoder().decode(opened!.data!), wrongScope: isEnvelopeError(wrong) ? wrong.code : 'none', failureConverterPath }));
}
void main();
`,
    );
    // skipLibCheck as consumers set it: @temporalio/common's own declarations import 'ms' without types.
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true, types: ['node'], outDir: 'out', rootDir: '.' },
        files: ['esm/consumer.ts', 'cjs/consumer.cts'],
      }),
    );
    await timed('typecheck', async () => {
      const tsc = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project }).catch((e: { stdout: string }) => e);
      expect(tsc.stdout).toBe('');
    });

    for (const [file, text] of [
      ['out/esm/consumer.js', '"from an ES module"'],
      ['out/cjs/consumer.cjs', '"from CommonJS"'],
    ] as const) {
      const { stdout, stderr } = await run(process.execPath, [file], { cwd: project });
      expect(stderr, file).toBe('');
      expect(JSON.parse(stdout), file).toEqual({
        encoding: 'binary/encrypted',
        opened: text,
        wrongScope: 'SCOPE_MISMATCH',
        failureConverterPath: path.join(project, 'node_modules', 'temporal-envelope', 'codecs', 'failure-converter.cjs'),
      });
    }

    const bin = path.join(project, 'node_modules', '.bin', 'temporal-envelope');
    const help = await run(bin, ['--help'], { cwd: project });
    expect(help.stdout).toContain('Usage: temporal-envelope');
    expect(help.stdout).toContain('keys');
    expect((await run(bin, ['--version'], { cwd: project })).stdout.trim()).toBe(pkg.version);
  }, 300_000);
});
