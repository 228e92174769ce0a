/**
 * Codec micro-benchmarks. Every figure is a ratio to a baseline measured in the same run, with the
 * sides interleaved (A B C A B C …) and medians taken, because the machine is shared and noisy.
 *
 *   npm run bench               # full run (~2 min)
 *   npm run bench -- --quick    # a few seconds; what CI's smoke test runs (no timing assertions)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Payload, SerializationContext } from '@temporalio/common';
import { EnvelopeCodec } from '../codecs/index.js';
import { LocalKeyring, newKeyringDocument } from '../keys/index.js';
import { DelayedProvider } from './lib/delayed-provider.js';
import { StaticKeyCodec } from './lib/static-key-codec.js';
import { fmt, interleaved, opsPerSecond, table } from './lib/stats.js';
import { codecChart } from './lib/codec-chart.js';

const quick = process.argv.includes('--quick');
const outDir = argValue('--out') ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const ROUNDS = quick ? 2 : 5;
const MS = quick ? 60 : 400;
const SIZES = [100, 1024, 16 * 1024, 1024 * 1024];
const WORKFLOWS = 100;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const payloadOf = (size: number, i: number): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: Buffer.alloc(size, 97 + (i % 26)),
});
const ctx = (i: number): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId: `bench-wf-${i % WORKFLOWS}` });
const same = (a: Payload, b: Payload) => Buffer.compare(Buffer.from(a.data!), Buffer.from(b.data!)) === 0;

interface Codecish {
  encode(p: Payload[], c?: SerializationContext): Promise<Payload[]>;
  decode(p: Payload[], c?: SerializationContext): Promise<Payload[]>;
}

async function main(): Promise<void> {
  const ring = LocalKeyring.fromDocument(newKeyringDocument());
  const kms0 = new DelayedProvider(ring, 0);
  const kms20 = new DelayedProvider(ring, 20);
  const impls: Record<string, Codecish> = {
    'static-key AES-GCM (baseline)': new StaticKeyCodec(),
    'envelope AES-256-GCM': new EnvelopeCodec({ keyProviders: kms0 }),
    'envelope XChaCha20-Poly1305': new EnvelopeCodec({ keyProviders: kms0, algorithm: 'XCHACHA20-POLY1305' }),
  };
  const warm20 = new EnvelopeCodec({ keyProviders: kms20 });

  // The implementations must agree before anything is timed.
  for (const [name, c] of Object.entries(impls)) {
    const p = payloadOf(1024, 3);
    const [back] = await c.decode(await c.encode([p], ctx(3)), ctx(3));
    if (!back || !same(back, p)) throw new Error(`${name} does not round-trip`);
  }
  // Warm every workflow's data key once (what a running worker has).
  for (let i = 0; i < WORKFLOWS; i++) for (const c of [...Object.values(impls), warm20]) await c.encode([payloadOf(10, i)], ctx(i));

  const results: { size: number; batch: number; opsPerSec: Record<string, number>; ratio: Record<string, number> }[] = [];
  for (const size of SIZES) {
    const batch = size >= 1024 * 1024 ? 1 : 10;
    const payloads = Array.from({ length: batch }, (_, i) => payloadOf(size, i));
    let n = 0;
    const roundTrip = (c: Codecish) => async () => {
      const c0 = ctx(n++);
      const back = await c.decode(await c.encode(payloads, c0), c0);
      if (back.length !== batch) throw new Error('lost a payload');
    };
    const ops = await interleaved(Object.fromEntries(Object.entries(impls).map(([k, c]) => [k, roundTrip(c)])), ROUNDS, MS);
    const base = ops['static-key AES-GCM (baseline)']!;
    results.push({ size, batch, opsPerSec: ops, ratio: Object.fromEntries(Object.entries(ops).map(([k, v]) => [k, v / base])) });
  }

  // KMS latency: warm caches make it irrelevant; cold (a new workflow each time, read by a fresh process) pays it.
  let fresh = 0;
  const small = [payloadOf(1024, 0)];
  const kmsModel = await interleaved(
    {
      'warm, KMS 0 ms': async () => void (await impls['envelope AES-256-GCM']!.encode(small, ctx(fresh++))),
      'warm, KMS 20 ms': async () => void (await warm20.encode(small, ctx(fresh++))),
    },
    ROUNDS,
    MS,
  );
  const coldOps = async (kms: DelayedProvider) => {
    const writer = new EnvelopeCodec({ keyProviders: kms });
    return opsPerSecond(async () => {
      const c0: SerializationContext = { type: 'workflow', namespace: 'default', workflowId: `cold-${fresh++}` };
      const reader = new EnvelopeCodec({ keyProviders: kms });
      await reader.decode(await writer.encode(small, c0), c0);
    }, quick ? 100 : 1000);
  };
  const cold0 = await coldOps(kms0);
  const cold20 = await coldOps(kms20);

  // 1 MB against OpenSSL's own AES-256-GCM speed on this machine, measured now.
  const opensslBps = opensslGcmBytesPerSecond(quick ? 1 : 3);
  const big = [payloadOf(1024 * 1024, 0)];
  const gcm = impls['envelope AES-256-GCM']!;
  const sealedBig = await gcm.encode(big, ctx(0));
  const encMBps = (await opsPerSecond(async () => void (await gcm.encode(big, ctx(0))), MS * 2)) * 1;
  const decMBps = (await opsPerSecond(async () => void (await gcm.decode(sealedBig, ctx(0))), MS * 2)) * 1;
  const opensslMBps = opensslBps / (1024 * 1024);

  const out = {
    when: new Date().toISOString(),
    node: process.version,
    quick,
    roundTrip: results,
    kms: {
      warmRatio20to0: kmsModel['warm, KMS 20 ms']! / kmsModel['warm, KMS 0 ms']!,
      warmOpsPerSec: kmsModel,
      coldOpsPerSec: { 'KMS 0 ms': cold0, 'KMS 20 ms': cold20 },
      kmsCalls: { delay0: kms0.calls, delay20: kms20.calls },
    },
    oneMegabyte: { opensslMBps, encodeMBps: encMBps, decodeMBps: decMBps, encodeRatio: encMBps / opensslMBps, decodeRatio: decMBps / opensslMBps },
  };

  console.log(`\ncodec round trip (encode + decode), ops/s and ratio to the static-key baseline (${ROUNDS} interleaved rounds, medians)`);
  console.log(
    table(
      ['payload', 'batch', ...Object.keys(impls).flatMap((k) => [k, 'ratio to static-key'])],
      results.map((r) => [humanSize(r.size), r.batch, ...Object.keys(impls).flatMap((k) => [fmt(r.opsPerSec[k]!, 0), fmt(r.ratio[k]!)])]),
    ),
  );
  console.log('\nKMS latency model (1 KB encode): warm caches vs. a new workflow each time (cold: generate + a fresh reader\'s decrypt)');
  console.log(
    table(
      ['case', 'ops/s', 'ratio to warm, KMS 0 ms'],
      [
        ['warm, KMS 0 ms', fmt(kmsModel['warm, KMS 0 ms']!, 0), '1.00'],
        ['warm, KMS 20 ms', fmt(kmsModel['warm, KMS 20 ms']!, 0), fmt(out.kms.warmRatio20to0)],
        ['cold, KMS 0 ms', fmt(cold0, 0), fmt(cold0 / kmsModel['warm, KMS 0 ms']!)],
        ['cold, KMS 20 ms', fmt(cold20, 0), fmt(cold20 / kmsModel['warm, KMS 0 ms']!)],
      ],
    ),
  );
  console.log(`\n1 MB payloads vs. openssl speed -evp aes-256-gcm (${fmt(opensslMBps, 0)} MB/s here, now)`);
  console.log(table(['direction', 'MB/s', 'ratio to openssl'], [['encode', fmt(encMBps, 0), fmt(out.oneMegabyte.encodeRatio)], ['decode', fmt(decMBps, 0), fmt(out.oneMegabyte.decodeRatio)]]));

  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'codec.json'), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'codec.svg'), codecChart(out));
  console.log(`\nwrote ${path.join(outDir, 'codec.json')} and codec.svg`);
}

function humanSize(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} MB` : n >= 1024 ? `${n / 1024} KB` : `${n} B`;
}

/** `openssl speed` prints "aes-256-gcm  <k bytes/s per block size>"; take the 1 MiB column. */
function opensslGcmBytesPerSecond(seconds: number): number {
  const text = execFileSync('openssl', ['speed', '-evp', 'aes-256-gcm', '-bytes', String(1024 * 1024), '-seconds', String(seconds)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const line = text.split('\n').find((l) => /^aes-256-gcm\s/i.test(l.trim()) || /^AES-256-GCM\s/.test(l.trim()));
  const k = line ? Number(/([\d.]+)k\s*$/.exec(line.trim())?.[1]) : NaN;
  if (!Number.isFinite(k)) throw new Error(`cannot read openssl speed output:\n${text}`);
  return k * 1000;
}

await main();
