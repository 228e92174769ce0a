import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { codecChart, type CodecResults } from '../bench/lib/codec-chart.js';
import { REPO_ROOT } from './cli-support/run-cli.js';

/**
 * The codec chart put ratios to three different baselines (a static-key codec, the codec with 0 ms
 * KMS latency, openssl speed) under one "ratio to baseline" label. Each group of bars now sits under
 * a heading that names its own 1.0, and the committed chart is the one drawn from the committed results.
 */
const headings = (svg: string) => [...svg.matchAll(/font-weight="bold" fill="#333">1\.0 = ([^<]+)</g)].map((m) => m[1]);
const labels = (svg: string) => [...svg.matchAll(/text-anchor="end" font-size="12">([^<]+)</g)].map((m) => m[1]!);

describe('the codec chart', () => {
  const results = JSON.parse(readFileSync(path.join(REPO_ROOT, 'bench', 'results', 'codec.json'), 'utf8')) as CodecResults;
  const svg = codecChart(results);

  it('draws each baseline as its own heading, over only its bars', () => {
    expect(headings(svg)).toEqual([
      'a static-key AES-GCM codec (round trips/s, same run)',
      'the warm codec with 0 ms KMS latency (encodes/s)',
      'openssl speed -evp aes-256-gcm (MB/s, same machine, same run)',
    ]);
    const order = svg.split('\n').flatMap((line) => [...headings(line).map((h) => `# ${h}`), ...labels(line)]);
    const kms = order.indexOf('# the warm codec with 0 ms KMS latency (encodes/s)');
    const openssl = order.indexOf('# openssl speed -evp aes-256-gcm (MB/s, same machine, same run)');
    expect(order.slice(kms + 1, openssl)).toEqual(['warm, KMS 20 ms']);
    expect(order.slice(openssl + 1)).toEqual(['1 MB encode', '1 MB decode']);
    expect(order.slice(1, kms).every((l) => l.startsWith('round trip '))).toBe(true);
    expect(svg).not.toMatch(/ratio to baseline/);
  });

  it('is what bench/results/codec.svg holds (drawn from bench/results/codec.json)', () => {
    expect(readFileSync(path.join(REPO_ROOT, 'bench', 'results', 'codec.svg'), 'utf8')).toBe(svg);
  });
});
