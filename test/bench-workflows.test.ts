import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { VARIANTS } from '../bench/workflows/variants.js';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * The workflow throughput benchmark still runs end to end: a real dev server, moto behind the
 * delaying proxy, a worker and a client process per variant. No timing assertions: the figures
 * belong to `npm run bench:workflows`, read as ratios. Only that every workflow completed, nothing
 * failed, and the KMS calls were counted in each process.
 */
const run = promisify(execFile);

interface Counts {
  generate: number;
  decrypt: number;
  errors: number;
}
interface Summary {
  variant: string;
  completed: number;
  errors: number;
  warmupErrors: number;
  warnings: number;
  wfPerSec: number;
  kmsWire: Record<'client' | 'worker', Record<string, number>>;
  kmsWireTotal: Record<'client' | 'worker', Record<string, number>>;
  keyCalls: Record<'client' | 'worker', Counts>;
  keyCallsTotal: Record<'client' | 'worker', Counts>;
}

describe('workflow throughput benchmark (smoke)', () => {
  it('runs every variant against a real dev server; every workflow completes, without errors, and KMS calls are counted per process', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'te-wfbench-smoke-'));
    onTestFinished(() => rmSync(out, { recursive: true, force: true }));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'workflows.bench.ts'), '--quick', '--out', out], {
      cwd: REPO_ROOT,
      timeout: 420_000,
      maxBuffer: 4 * 1024 * 1024,
    });
    expect(stdout).toContain('ratios to the no-codec batch of the same round');
    const r = JSON.parse(readFileSync(path.join(out, 'workflows.json'), 'utf8')) as { workflows: number; rounds: number; summary: Summary[] };
    expect(r.summary.map((s) => s.variant)).toEqual(VARIANTS.map((v) => v.id));
    for (const s of r.summary) {
      const v = VARIANTS.find((x) => x.id === s.variant)!;
      expect(s.completed, s.variant).toBe(r.workflows * r.rounds);
      expect(s.errors + s.warmupErrors + s.warnings, s.variant).toBe(0);
      expect(s.wfPerSec, s.variant).toBeGreaterThan(0);
      for (const role of ['client', 'worker'] as const) {
        expect(s.keyCallsTotal[role].errors, `${s.variant} ${role}`).toBe(0);
        // Recorded per workflow for the measured phase...
        for (const n of [s.keyCalls[role].generate, s.keyCalls[role].decrypt, ...Object.values(s.kmsWire[role])]) expect(Number.isFinite(n), `${s.variant} ${role}`).toBe(true);
        // ...and over the whole run: our codec asks its key provider in both processes; a KMS variant's calls reach the wire.
        const hooks = s.keyCallsTotal[role].generate + s.keyCallsTotal[role].decrypt;
        const wire = Object.values(s.kmsWireTotal[role]).reduce((a, b) => a + b, 0);
        if (v.codec === 'envelope') expect(hooks, `${s.variant} ${role} key-provider calls`).toBeGreaterThan(0);
        else expect(hooks, `${s.variant} ${role}`).toBe(0);
        if (v.kmsDelayMs !== undefined) expect(wire, `${s.variant} ${role} KMS requests on the wire`).toBeGreaterThanOrEqual(hooks);
        else expect(wire, `${s.variant} ${role}`).toBe(0);
      }
    }
    expect(readFileSync(path.join(out, 'workflows.svg'), 'utf8')).toMatch(/^<svg /);
  }, 480_000);
});
