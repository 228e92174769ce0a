import { ratioChart, type RatioBar } from './svg.js';

/** The parts of bench/results/codec.json the chart draws. */
export interface CodecResults {
  roundTrip: { size: number; ratio: Record<string, number> }[];
  kms: { warmRatio20to0: number };
  oneMegabyte: { encodeRatio: number; decodeRatio: number };
}

const STATIC_KEY = 'a static-key AES-GCM codec (round trips/s, same run)';
const KMS_0MS = 'the warm codec with 0 ms KMS latency (encodes/s)';
const OPENSSL = 'openssl speed -evp aes-256-gcm (MB/s, same machine, same run)';

/**
 * The codec chart: three measurements with three baselines, each drawn under its own, so no reader
 * compares a ratio to the static-key codec with one to OpenSSL as if they were the same scale.
 */
export function codecChart(r: CodecResults): string {
  const size = (n: number) => (n >= 1024 * 1024 ? `${n / 1024 / 1024} MB` : n >= 1024 ? `${n / 1024} KB` : `${n} B`);
  const bars: RatioBar[] = [
    ...r.roundTrip.map((x) => ({ baseline: STATIC_KEY, label: `round trip ${size(x.size)}, AES-256-GCM`, ratio: x.ratio['envelope AES-256-GCM']!, ...(x.size === 1024 ? { target: 1 / 1.5 } : {}) })),
    ...r.roundTrip.map((x) => ({ baseline: STATIC_KEY, label: `round trip ${size(x.size)}, XChaCha20-Poly1305`, ratio: x.ratio['envelope XChaCha20-Poly1305']! })),
    { baseline: KMS_0MS, label: 'warm, KMS 20 ms', ratio: r.kms.warmRatio20to0 },
    { baseline: OPENSSL, label: '1 MB encode', ratio: r.oneMegabyte.encodeRatio, target: 0.5 },
    { baseline: OPENSSL, label: '1 MB decode', ratio: r.oneMegabyte.decodeRatio, target: 0.5 },
  ];
  return ratioChart('temporal-envelope codec: throughput as a ratio to each baseline (red: target)', bars);
}
