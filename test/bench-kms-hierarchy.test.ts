import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * `npm run bench:kms` still runs and its results are whole (--quick). Its KMS counts are exact,
 * so they are checked; its times are not (they belong to a full run on a quiet machine).
 */
const out = mkdtempSync(path.join(tmpdir(), 'te-bench-kms-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('KMS hierarchy benchmark (smoke)', () => {
  it('runs both hierarchies with and without the KMS delay, counts KMS requests per 1,000 workflows, and writes JSON and a chart', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'kms-hierarchy.bench.ts'), '--quick', '--out', out], { cwd: REPO_ROOT, timeout: 240_000, maxBuffer: 4 * 1024 * 1024 });
    expect(stdout).toContain('KMS requests per 1,000 workflows per process');
    const r = JSON.parse(readFileSync(path.join(out, 'kms-hierarchy.json'), 'utf8')) as {
      rows: { hierarchy: string; delayMs: number; kmsPer1000: { client: number; worker: number; clientByOp: object; workerByOp: object }; kmsWarmup: { client: number; worker: number }; startMs: { p50: number } }[];
    };
    expect(r.rows.map((x) => `${x.hierarchy}/${x.delayMs}`)).toEqual(['per-workflow/0', 'per-workflow/10', 'branch/0', 'branch/10']);
    for (const row of r.rows) {
      expect(row.startMs.p50).toBeGreaterThan(0);
      if (row.hierarchy === 'per-workflow') {
        // A data key per workflow in each process and one unwrap of the other's: 2,000 per 1,000 workflows.
        const each = { GenerateDataKey: 1000, Decrypt: 1000 };
        expect(row.kmsPer1000).toEqual({ client: 2000, worker: 2000, clientByOp: each, workerByOp: each });
      } else {
        const none = { GenerateDataKey: 0, Decrypt: 0 };
        expect(row.kmsPer1000).toEqual({ client: 0, worker: 0, clientByOp: none, workerByOp: none });
        expect(row.kmsWarmup).toEqual({ client: 2, worker: 2 });
      }
    }
    expect(readFileSync(path.join(out, 'kms-hierarchy.svg'), 'utf8')).toMatch(/^<svg /);
  }, 300_000);
});
