import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * `npm run fuzz` (scripts/fuzz.ts) still runs end to end: a few hundred requests against a server in
 * its own process and a few thousand decodes, no violation, counts written. The long run's figures
 * (≥ 100,000 requests, ≥ 500,000 decodes) are in SECURITY.md, from a run of the full script.
 */
const run = promisify(execFile);

describe('npm run fuzz (smoke)', () => {
  it('sends hostile requests and decodes hostile payloads, finds nothing, and reports its counts', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'te-fuzz-smoke-')), 'counts.json');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'fuzz.ts'), '--requests', '400', '--decodes', '4000', '--seed', '11', '--max-minutes', '3', '--out', out], {
      cwd: REPO_ROOT,
      timeout: 240_000,
      maxBuffer: 4 * 1024 * 1024,
    });
    expect(stdout).toContain('HTTP requests');
    const counts = JSON.parse(readFileSync(out, 'utf8')) as { http: { requests: number; violations: number; logLeaks: number; statuses: Record<string, number>; byCategory: Record<string, number> }; decode: { decodes: number; violations: number } };
    expect(counts.http.requests).toBeGreaterThanOrEqual(400);
    expect(counts.decode.decodes).toBe(4000);
    expect(counts.http.violations + counts.decode.violations + counts.http.logLeaks).toBe(0);
    expect(Object.keys(counts.http.statuses).filter((s) => s.startsWith('5'))).toEqual([]);
    expect(Object.keys(counts.http.byCategory).length).toBeGreaterThanOrEqual(10);
  });
});
