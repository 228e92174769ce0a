import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** What a vector tool's `verify` prints (test/cross-language/README.md). */
export interface VerifySummary {
  generator: string;
  verifier: string;
  opened: number;
  rejected: number;
  failures: string[];
}

/**
 * A codec that reads format v2 opens every valid vector of a `--hierarchy branch` file and rejects
 * every invalid one with its code. One that reads only version 1 (the Go and Python codecs until
 * their v2 lands) must refuse all of them with UNSUPPORTED_FORMAT and nothing else: never open one,
 * never a TAMPERED/MALFORMED that would send an operator looking for an attacker. Either passes;
 * anything between fails.
 */
export function expectOpensV2OrRefusesUnsupported(summary: VerifySummary, file: string): 'reads v2' | 'v1 only' {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { valid: { name: string }[]; invalid: { name: string; code: string }[] };
  if (summary.opened > 0) {
    expect(summary).toMatchObject({ opened: doc.valid.length, rejected: doc.invalid.length, failures: [] });
    return 'reads v2';
  }
  for (const f of summary.failures) expect(f).toMatch(/UNSUPPORTED_FORMAT/);
  // Every valid vector refused, and the invalid ones either refused as unsupported or, where that is their code, rejected.
  for (const v of doc.valid) expect(summary.failures.some((f) => f.startsWith(`${v.name}: `))).toBe(true);
  expect(summary.rejected + summary.failures.length).toBe(doc.valid.length + doc.invalid.length);
  return 'v1 only';
}
