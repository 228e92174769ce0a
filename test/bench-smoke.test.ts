import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * The benchmarks still run and their results are whole. No timing assertions: the figures belong
 * to `npm run bench` / `npm run bench:load` on a quiet machine, read as ratios.
 */
const run = promisify(execFile);
const out = mkdtempSync(path.join(tmpdir(), 'te-bench-smoke-'));
const bench = (file: string) => run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', file), '--quick', '--out', out], { cwd: REPO_ROOT, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 });

describe('benchmarks (smoke)', () => {
  it('codec micro-benchmarks run, cross-check the implementations, and write JSON and a chart', async () => {
    const { stdout } = await bench('codec.bench.ts');
    expect(stdout).toContain('ratio to the static-key baseline');
    const r = JSON.parse(readFileSync(path.join(out, 'codec.json'), 'utf8')) as { roundTrip: { size: number; ratio: Record<string, number> }[]; kms: { kmsCalls: { delay0: number } }; oneMegabyte: { opensslMBps: number } };
    expect(r.roundTrip.map((x) => x.size)).toEqual([100, 1024, 16 * 1024, 1024 * 1024]);
    for (const x of r.roundTrip) for (const v of Object.values(x.ratio)) expect(v).toBeGreaterThan(0);
    expect(r.oneMegabyte.opensslMBps).toBeGreaterThan(0);
    expect(r.kms.kmsCalls.delay0).toBeGreaterThan(0);
    expect(readFileSync(path.join(out, 'codec.svg'), 'utf8')).toMatch(/^<svg /);
  });

  it('the load test starts the servers, checks they decode and echo, loads them without errors, and stops them', async () => {
    const { stdout } = await bench('load.bench.ts');
    expect(stdout).toContain('/decode under load');
    const r = JSON.parse(readFileSync(path.join(out, 'load.json'), 'utf8')) as {
      results: Record<string, { codec: { requests: number; errors: number; non2xx: number }; echo: { requests: number }; static: { requests: number; errors: number; non2xx: number } }>;
      serial: Record<string, { requests: number; p50: number }>;
    };
    expect(Object.keys(r.results)).toEqual(['10 × 1 KB', '1 × 100 KB']);
    for (const x of Object.values(r.results)) {
      expect(x.codec.requests).toBeGreaterThan(0);
      expect(x.echo.requests).toBeGreaterThan(0);
      expect(x.static.requests).toBeGreaterThan(0);
      expect(x.codec.errors + x.codec.non2xx).toBe(0);
      expect(x.static.errors + x.static.non2xx).toBe(0);
    }
    // Every serial request got a 200 (the client throws otherwise) from each of the three servers.
    expect(Object.keys(r.serial)).toEqual(['echo', 'static', 'ours']);
    for (const s of Object.values(r.serial)) expect(s.requests).toBeGreaterThan(0);
  });
});
