/**
 * KMS requests per 1,000 workflows per process, and what the codec adds to starting a workflow,
 * in each key hierarchy, with AWS KMS (moto on loopback) behind a proxy per process that counts its
 * requests on the wire and holds each back by 0 or 10 ms (a KMS round trip in the same region).
 *
 * No Temporal server: a client process and a worker process (each its own codec, key providers via
 * openKeyProviders with production settings, and KMS connection) pass each workflow's payloads the
 * way its history does (test/support/simulated-workflows.ts). `npm run bench:workflows` measures
 * the same with a real dev server, worker and client.
 *
 * Each run: fresh processes, a warm-up of --warmup workflows (new connections; in branch mode the
 * branch keys), then --workflows new workflows one after another, timed and counted. Runs of the
 * four cases (hierarchy × delay) are interleaved over --rounds rounds; medians over rounds are
 * reported, each latency's median as a ratio to the same hierarchy's with 0 ms in the same round.
 *
 *   npm run bench:kms                 # 3 rounds × 300 workflows per case (~2 min)
 *   npm run bench:kms -- --quick      # 1 round × 30 workflows: what the smoke test runs
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { KeyHierarchy } from '../codecs/index.js';
import { startMoto } from '../test/cli-support/moto.js';
import { openSimulatedProcess, runWorkflow, type KmsTarget } from '../test/support/simulated-workflows.js';
import { fmt, median, table } from './lib/stats.js';
import { ratioChart } from './lib/svg.js';

const quick = process.argv.includes('--quick');
const outDir = argValue('--out') ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const ROUNDS = Number(argValue('--rounds') ?? (quick ? 1 : 3));
const WORKFLOWS = Number(argValue('--workflows') ?? (quick ? 30 : 300));
const WARMUP = Number(argValue('--warmup') ?? (quick ? 5 : 20));
const DELAY_MS = Number(argValue('--kms-delay-ms') ?? 10);
const NAMESPACE = 'default';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Case {
  id: string;
  hierarchy: KeyHierarchy;
  delayMs: number;
}
const CASES: Case[] = (['per-workflow', 'branch'] as const).flatMap((hierarchy) => [0, DELAY_MS].map((delayMs) => ({ id: `${hierarchy}, KMS +${delayMs} ms`, hierarchy, delayMs })));

interface Run {
  case: string;
  round: number;
  /** KMS requests on the wire during the measured workflows, by process and operation. */
  kms: { client: Record<string, number>; worker: Record<string, number> };
  /** During the warm-up (cold processes). */
  kmsWarmup: { client: Record<string, number>; worker: Record<string, number> };
  startMs: { p50: number; p99: number; mean: number };
  pickupMs: { p50: number; p99: number; mean: number };
  workflowsPerSecond: number;
}

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const perThousand = (n: number) => (n / WORKFLOWS) * 1000;
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)]!, p99: s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
};

async function runCase(kms: KmsTarget, c: Case, round: number): Promise<Run> {
  const client = await openSimulatedProcess(kms, { keyHierarchy: c.hierarchy });
  const worker = await openSimulatedProcess(kms, { keyHierarchy: c.hierarchy });
  try {
    client.proxy.delayMs = worker.proxy.delayMs = c.delayMs;
    const tag = `${c.hierarchy}-${c.delayMs}-${round}`;
    for (let i = 0; i < WARMUP; i++) await runWorkflow(client.codec, worker.codec, NAMESPACE, `warm-${tag}-${i}`);
    const kmsWarmup = { client: client.proxy.snapshot(), worker: worker.proxy.snapshot() };
    client.proxy.reset();
    worker.proxy.reset();
    const start: number[] = [];
    const pickup: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < WORKFLOWS; i++) {
      const t = await runWorkflow(client.codec, worker.codec, NAMESPACE, `wf-${tag}-${i}`);
      start.push(t.startMs);
      pickup.push(t.pickupMs);
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      case: c.id,
      round,
      kms: { client: client.proxy.snapshot(), worker: worker.proxy.snapshot() },
      kmsWarmup,
      startMs: summary(start),
      pickupMs: summary(pickup),
      workflowsPerSecond: WORKFLOWS / seconds,
    };
  } finally {
    await Promise.all([client.close(), worker.close()]);
  }
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const moto = await startMoto();
  try {
    const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' }; // moto's placeholders
    const admin = new KMSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
    const keyArn = (await admin.send(new CreateKeyCommand({ Description: 'kms-hierarchy bench' }))).KeyMetadata!.Arn!;
    admin.destroy();
    const kms: KmsTarget = { endpoint: moto.endpoint, keyArn, region: 'us-east-1' };

    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) for (const c of CASES) runs.push(await runCase(kms, c, round));

    const rows = CASES.map((c) => {
      const rs = runs.filter((r) => r.case === c.id);
      const base = (r: Run) => runs.find((b) => b.round === r.round && b.case === CASES.find((x) => x.hierarchy === c.hierarchy && x.delayMs === 0)!.id)!;
      const med = (f: (r: Run) => number) => median(rs.map(f));
      return {
        case: c.id,
        hierarchy: c.hierarchy,
        delayMs: c.delayMs,
        kmsPer1000: {
          client: med((r) => perThousand(total(r.kms.client))),
          worker: med((r) => perThousand(total(r.kms.worker))),
          clientByOp: Object.fromEntries(['GenerateDataKey', 'Decrypt'].map((op) => [op, med((r) => perThousand(r.kms.client[op] ?? 0))])),
          workerByOp: Object.fromEntries(['GenerateDataKey', 'Decrypt'].map((op) => [op, med((r) => perThousand(r.kms.worker[op] ?? 0))])),
        },
        kmsWarmup: { client: med((r) => total(r.kmsWarmup.client)), worker: med((r) => total(r.kmsWarmup.worker)) },
        startMs: { p50: med((r) => r.startMs.p50), p99: med((r) => r.startMs.p99), mean: med((r) => r.startMs.mean) },
        pickupMs: { p50: med((r) => r.pickupMs.p50), p99: med((r) => r.pickupMs.p99) },
        /**
         * Median start latency over the same hierarchy's at 0 ms, same round: 1.0 = independent of
         * KMS latency. The median, because the tails on a shared 2-core machine are its neighbours'.
         */
        startRatioTo0ms: med((r) => r.startMs.p50 / base(r).startMs.p50),
        pickupRatioTo0ms: med((r) => r.pickupMs.p50 / base(r).pickupMs.p50),
        workflowsPerSecond: med((r) => r.workflowsPerSecond),
        workflowsPerSecondRatioTo0ms: med((r) => r.workflowsPerSecond / base(r).workflowsPerSecond),
      };
    });
    const at = (h: KeyHierarchy, d: number) => rows.find((r) => r.hierarchy === h && r.delayMs === d)!;
    const branchVsPerWorkflow = {
      startP50: at('branch', DELAY_MS).startMs.p50 / at('per-workflow', DELAY_MS).startMs.p50,
      workflowsPerSecond: at('branch', DELAY_MS).workflowsPerSecond / at('per-workflow', DELAY_MS).workflowsPerSecond,
    };

    console.log(`\nKMS requests per 1,000 workflows per process, counted on the wire, after a warm-up of ${WARMUP} (${ROUNDS} round(s) × ${WORKFLOWS} workflows per case, medians)`);
    console.log(
      table(
        ['case', 'client GDK', 'client Decrypt', 'worker GDK', 'worker Decrypt', 'warm-up requests (client/worker)'],
        rows.map((r) => [r.case, fmt(r.kmsPer1000.clientByOp.GenerateDataKey!, 1), fmt(r.kmsPer1000.clientByOp.Decrypt!, 1), fmt(r.kmsPer1000.workerByOp.GenerateDataKey!, 1), fmt(r.kmsPer1000.workerByOp.Decrypt!, 1), `${r.kmsWarmup.client}/${r.kmsWarmup.worker}`]),
      ),
    );
    console.log('\nWhat the codec adds to starting a workflow (client seals the input) and to its pickup (worker opens it), ms');
    console.log(
      table(
        ['case', 'start p50', 'ratio to 0 ms', 'start p99', 'start mean', 'pickup p50', 'ratio to 0 ms', 'pickup p99', 'workflows/s', 'ratio to 0 ms'],
        rows.map((r) => [r.case, fmt(r.startMs.p50, 3), fmt(r.startRatioTo0ms), fmt(r.startMs.p99, 3), fmt(r.startMs.mean, 3), fmt(r.pickupMs.p50, 3), fmt(r.pickupRatioTo0ms), fmt(r.pickupMs.p99, 3), fmt(r.workflowsPerSecond, 0), fmt(r.workflowsPerSecondRatioTo0ms)]),
      ),
    );
    console.log(`\nbranch vs per-workflow at KMS +${DELAY_MS} ms: start latency (p50) ${fmt(branchVsPerWorkflow.startP50, 4)}×, workflows/s ${fmt(branchVsPerWorkflow.workflowsPerSecond)}×`);

    const out = { when: new Date().toISOString(), node: process.version, quick, rounds: ROUNDS, workflows: WORKFLOWS, warmup: WARMUP, kmsDelayMs: DELAY_MS, rows, branchVsPerWorkflow, runs };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'kms-hierarchy.json'), `${JSON.stringify(out, null, 2)}\n`);
    const bars = rows.filter((r) => r.delayMs === DELAY_MS).map((r) => ({ label: `${r.hierarchy}: start latency p50, KMS +${DELAY_MS} ms vs 0 ms`, ratio: r.startRatioTo0ms, target: r.hierarchy === 'branch' ? 1 : undefined }));
    writeFileSync(path.join(outDir, 'kms-hierarchy.svg'), ratioChart(`codec's part of a workflow start, KMS +${DELAY_MS} ms, ratio to 0 ms (red: independent of KMS)`, bars));
    console.log(`\nwrote ${path.join(outDir, 'kms-hierarchy.json')} and kms-hierarchy.svg`);
  } finally {
    await moto.stop();
  }
}

await main();
