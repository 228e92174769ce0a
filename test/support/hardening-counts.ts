import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../cli-support/run-cli.js';

/**
 * The hardening suites record how many hostile inputs, faults and requests they ran, so the figures
 * in a closing note come from a run, not from a guess: test-artifacts/hardening-counts.json.
 */
const FILE = path.join(REPO_ROOT, 'test-artifacts', 'hardening-counts.json');

export function recordCounts(suite: string, counts: Record<string, number>): void {
  mkdirSync(path.dirname(FILE), { recursive: true });
  let all: Record<string, Record<string, number>> = {};
  try {
    all = JSON.parse(readFileSync(FILE, 'utf8')) as typeof all;
  } catch {
    // first suite of the run
  }
  all[suite] = counts;
  writeFileSync(FILE, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`hardening ${suite}: ${JSON.stringify(counts)}`);
}
